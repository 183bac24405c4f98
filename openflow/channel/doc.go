// Package channel speaks the OpenFlow 1.3 channel for one switch: the
// connections to its controllers (OpenFlow Switch Specification 1.3.5 §6).
//
// A [Switch] dials the controllers it is given (tcp:IP[:PORT], unix:PATH)
// and listens for others (ptcp:[PORT][:IP], punix:PATH), several at once;
// see [ParseTarget]. Each connection starts with a HELLO exchange that
// settles on OpenFlow 1.3, then runs on its own: its messages are handled
// one at a time in the order they arrive, the answers of the channel
// itself first, the rest by the [Datapath], which is the pipeline behind
// the channel. Wiring it up:
//
//	sw, err := channel.New(dp, channel.Options{Targets: targets, FailMode: mode,
//		OnControllerState: dp.ControllerState})
//	if err != nil { ... }
//	if err := sw.Start(); err != nil { ... }
//	defer sw.Close()
//	// From the datapath, on any goroutine, never blocking:
//	sw.PacketIn(&ofp.PacketIn{Reason: ofp.ReasonAction, ...}, maxLen)
//
// # Messages
//
//	message from the controller    answered by   notes
//	HELLO                          channel       1.3 only; no common version: ERROR HELLO_FAILED/INCOMPATIBLE, close
//	ECHO_REQUEST / ECHO_REPLY      channel       the switch also probes an idle controller (Options.ProbeInterval)
//	FEATURES_REQUEST               channel       from Datapath.Features; n_buffers 0, auxiliary_id 0
//	GET_CONFIG_REQUEST, SET_CONFIG channel       flags and miss_send_len, shared by all connections (Switch.Config)
//	BARRIER_REQUEST                channel       earlier messages are done: handled in order, replies queued ahead
//	ROLE_REQUEST                   channel       generation_id check (ROLE_REQUEST_FAILED/STALE), one master
//	GET_ASYNC_REQUEST, SET_ASYNC   channel       per connection, spec defaults at connection start
//	MULTIPART_REQUEST DESC         channel       mfr "mswitch", the rest from Datapath.Features
//	MULTIPART_REQUEST experimenter channel       ERROR BAD_REQUEST/BAD_EXPERIMENTER
//	EXPERIMENTER                   channel       ERROR BAD_REQUEST/BAD_EXPERIMENTER
//	ERROR                          channel       logged
//	FLOW_MOD, GROUP_MOD, PORT_MOD, datapath      from a slave: ERROR BAD_REQUEST/IS_SLAVE
//	TABLE_MOD, METER_MOD,
//	PACKET_OUT
//	MULTIPART_REQUEST (others)     datapath      TABLE_FEATURES with a body from a slave: IS_SLAVE;
//	                                             a large reply is split over REPLY_MORE messages
//	QUEUE_GET_CONFIG_REQUEST       datapath
//	  ... left unanswered          channel       ERROR BAD_REQUEST/BAD_MULTIPART (BAD_TYPE for queue config),
//	                                             so that a controller never waits forever
//	replies, PACKET_IN, ...        channel       ERROR BAD_REQUEST/BAD_TYPE (switch-to-controller messages)
//	unknown type                   channel       ERROR BAD_REQUEST/BAD_TYPE (from the codec)
//	malformed message              channel       the ERROR the codec's *ofp.Error names, e.g. BAD_MATCH/BAD_LEN
//	other version                  channel       ERROR BAD_REQUEST/BAD_VERSION
//
// Every ERROR carries the first 64 bytes of the offending request and the
// connection lives on; only a framing error (a header length below 8) or a
// failed HELLO closes it.
//
// # Asynchronous messages
//
// The datapath calls [Switch.PacketIn], [Switch.FlowRemoved] and
// [Switch.PortStatus]. Each message is encoded once and queued on every
// connection whose role and async configuration want its reason: by
// default master and equal controllers get PACKET_IN (no match, action),
// PORT_STATUS and FLOW_REMOVED, slaves only PORT_STATUS; SET_ASYNC changes
// that per connection. The switch never buffers packets: PACKET_IN carries
// ofp.NoBuffer and the packet cut to the output action's max_len, and for
// a table miss or an invalid TTL also to miss_send_len (the spec asks for
// the whole packet when nothing is buffered; OVS and this switch cut it).
// A connection's queue is bounded (Options.QueueLen): an asynchronous
// message that does not fit is dropped and counted (ConnStatus.AsyncDrops),
// so a slow controller never blocks the datapath.
//
// # Roles
//
// Connections start as equal. ROLE_REQUEST master or slave carries a
// generation_id, refused with ROLE_REQUEST_FAILED/STALE when it is older
// (by signed 64-bit distance) than the largest seen; a new master demotes
// the previous one to slave. Slaves may read but not change the switch
// (the messages marked IS_SLAVE above); SET_CONFIG and SET_ASYNC stay
// open to them, as the spec lists neither.
//
// # Connection loss and fail mode
//
// Active targets reconnect with a backoff from 1 s doubling to 8 s
// (Options.MinBackoff, MaxBackoff). An idle controller is sent an
// ECHO_REQUEST after Options.ProbeInterval and dropped after twice that.
// When no controller has been connected for Options.FailTimeout, the
// switch calls Options.OnControllerState(false), and (true) when one is
// back: in FailStandalone mode the datapath then acts as a learning switch,
// in FailSecure mode it keeps its flows and sends nothing to controllers.
// The channel itself behaves the same in both modes. [Switch.Status]
// reports targets and connections for mswitchctl.
package channel

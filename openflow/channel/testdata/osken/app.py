# A tiny os-ken controller for TestOsken: on the switch's features it
# installs one flow and sends a barrier; it prints what it sees, one line
# per event, for the Go test to read.
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.ofproto import ofproto_v1_3


class ChannelTest(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        msg = ev.msg
        dp = msg.datapath
        print("FEATURES dpid=%016x n_tables=%d n_buffers=%d" % (msg.datapath_id, msg.n_tables, msg.n_buffers), flush=True)
        ofp, parser = dp.ofproto, dp.ofproto_parser
        match = parser.OFPMatch(in_port=1, eth_type=0x0800, ipv4_dst="10.0.0.2")
        actions = [parser.OFPActionOutput(2), parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        dp.send_msg(parser.OFPFlowMod(datapath=dp, cookie=0x42, table_id=0, priority=100, match=match, instructions=inst))
        dp.send_msg(parser.OFPBarrierRequest(dp))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def barrier(self, ev):
        print("BARRIER_REPLY xid=%d" % ev.msg.xid, flush=True)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def port_desc(self, ev):
        print("PORT_DESC %s" % ",".join(p.name.decode() for p in ev.msg.body), flush=True)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        print("PACKET_IN reason=%d buffer_id=%#x total_len=%d len=%d in_port=%d" % (
            msg.reason, msg.buffer_id, msg.total_len, len(msg.data), msg.match["in_port"]), flush=True)

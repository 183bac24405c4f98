package channel

import (
	"errors"
	"io"
	"net"
	"time"
)

// routineDial keeps one active target connected: dial, serve, and after a
// failure or a disconnection wait a backoff that doubles from MinBackoff to
// MaxBackoff, reset once a connection completes its handshake (as OVS's
// rconn). A state change is logged once; repeated identical failures are
// logged at debug level.
//
//	connecting --dial ok--> connected --closed--> backoff
//	     ^   \--dial failed--------------------->   |
//	     +-------------- backoff elapsed -----------+
func (s *Switch) routineDial(ts *targetState) {
	defer s.wg.Done()
	t := ts.target
	log := s.log.With("target", t)
	backoff := s.opts.MinBackoff
	var lastErr string
	for {
		s.setTargetState(ts, "connecting", nil)
		d := net.Dialer{Timeout: max(s.opts.MaxBackoff, 5*time.Second)}
		nc, err := d.DialContext(s.ctx, t.Network, t.Address)
		if s.ctx.Err() != nil {
			if nc != nil {
				nc.Close()
			}
			return
		}
		if err != nil {
			if err.Error() != lastErr {
				log.Warn("openflow: cannot connect to controller", "err", err, "retry_in", backoff)
				lastErr = err.Error()
			} else {
				log.Debug("openflow: cannot connect to controller", "err", err, "retry_in", backoff)
			}
		} else {
			s.setTargetState(ts, "connected", nil)
			err = s.serve(nc, t, func() {
				backoff, lastErr = s.opts.MinBackoff, ""
			})
			if s.ctx.Err() != nil {
				return
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by controller")
			}
			log.Warn("openflow: disconnected from controller", "err", err, "retry_in", backoff)
			lastErr = err.Error()
		}
		s.setTargetState(ts, "backoff", err)
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-s.ctx.Done():
			timer.Stop()
			return
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// routineAccept serves the connections a passive target accepts.
func (s *Switch) routineAccept(ln net.Listener, ts *targetState) {
	defer s.wg.Done()
	log := s.log.With("target", ts.target)
	log.Info("openflow: listening for controllers", "addr", ln.Addr())
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			log.Warn("openflow: accept", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.serve(nc, ts.target, nil)
			if s.ctx.Err() == nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("connection closed by controller")
				}
				log.Info("openflow: controller connection ended", "remote", nc.RemoteAddr(), "err", err)
			}
		}()
	}
}

#!/usr/bin/python3
# Reads hex OpenFlow 1.3 messages, one a line, parses each with os-ken and
# prints "ok CLASS" or "error CLASS: ..." a line; "reser" is appended when
# os-ken serializes the parsed message back to the same bytes.
import sys
from os_ken.ofproto import ofproto_parser, ofproto_protocol, ofproto_v1_3 as ofp

dp = ofproto_protocol.ProtocolDesc(version=ofp.OFP_VERSION)
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    buf = bytes.fromhex(line)
    try:
        version, msg_type, msg_len, xid = ofproto_parser.header(buf)
        msg = ofproto_parser.msg(dp, version, msg_type, msg_len, xid, buf)
        if msg is None:
            print("error None: no parser for type %d" % msg_type)
            continue
        msg.to_jsondict()
        str(msg)
        same = ""
        try:
            msg.buf = None
            msg.serialize()
            if bytes(msg.buf) == buf:
                same = " reser"
        except Exception:
            pass
        print("ok %s%s" % (type(msg).__name__, same))
    except Exception as e:
        print("error %s: %r" % (type(e).__name__, e))

#!/usr/bin/python3
# Serializes OpenFlow 1.3 messages with os-ken (Debian python3-os-ken) and
# prints them as golden hex: one message a line, '#' lines are comments.
# Regenerate with: /usr/bin/python3 gen.py > osken.hex
from os_ken.ofproto import ofproto_protocol, ofproto_v1_3 as ofp, ofproto_v1_3_parser as p

dp = ofproto_protocol.ProtocolDesc(version=ofp.OFP_VERSION)
msgs = []


def add(name, m, xid):
    m.set_xid(xid)
    m.serialize()
    msgs.append((name, bytes(m.buf)))


add("FlowMod tcp", p.OFPFlowMod(
    dp, cookie=0x10, cookie_mask=0, table_id=0, command=ofp.OFPFC_ADD, idle_timeout=30, hard_timeout=60,
    priority=100, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
    flags=ofp.OFPFF_SEND_FLOW_REM,
    match=p.OFPMatch(in_port=1, eth_type=0x0800, ip_proto=6, ipv4_src=('10.0.0.0', '255.0.0.0'), tcp_dst=80),
    instructions=[p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [
        p.OFPActionSetField(eth_dst='00:00:00:00:00:02'), p.OFPActionOutput(2, 0)])]), 1)
add("FlowMod every field", p.OFPFlowMod(
    dp, table_id=1, command=ofp.OFPFC_MODIFY_STRICT, priority=7, buffer_id=ofp.OFP_NO_BUFFER,
    out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
    match=p.OFPMatch(in_port=1, in_phy_port=1, metadata=(0x1200, 0xff00), eth_dst='00:01:02:03:04:05',
                     eth_src=('0a:00:00:00:00:00', 'ff:00:00:00:00:00'), eth_type=0x86dd,
                     vlan_vid=(0x1000 | 10), vlan_pcp=3, ip_dscp=46, ip_ecn=2, ip_proto=58,
                     ipv6_src=('2001:db8::', 'ffff:ffff::'), ipv6_dst='2001:db8::1', ipv6_flabel=(0x12345, 0xfffff),
                     icmpv6_type=135, icmpv6_code=0, ipv6_nd_target='fe80::1', ipv6_nd_sll='02:00:00:00:00:03',
                     pbb_isid=(0x123400, 0xffff00), tunnel_id=(0xdead, 0xffff), ipv6_exthdr=(0x10, 0x14)),
    instructions=[
        p.OFPInstructionMeter(1),
        p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [
            p.OFPActionCopyTtlOut(), p.OFPActionCopyTtlIn(), p.OFPActionSetMplsTtl(64), p.OFPActionDecMplsTtl(),
            p.OFPActionPushVlan(0x8100), p.OFPActionPopVlan(), p.OFPActionPushMpls(0x8847), p.OFPActionPopMpls(0x0800),
            p.OFPActionSetQueue(7), p.OFPActionGroup(3), p.OFPActionSetNwTtl(32), p.OFPActionDecNwTtl(),
            p.OFPActionSetField(vlan_vid=0x1000 | 100), p.OFPActionSetField(ipv6_src='2001:db8::5'),
            p.OFPActionSetField(pbb_isid=0xabcdef), p.OFPActionSetField(mpls_label=100),
            p.OFPActionPushPbb(0x88e7), p.OFPActionPopPbb(),
            p.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]),
        p.OFPInstructionActions(ofp.OFPIT_CLEAR_ACTIONS, []),
        p.OFPInstructionActions(ofp.OFPIT_WRITE_ACTIONS, [p.OFPActionOutput(3, 0)]),
        p.OFPInstructionWriteMetadata(0xab00, 0xff00),
        p.OFPInstructionGotoTable(2)]), 2)
add("FlowMod mpls arp", p.OFPFlowMod(
    dp, command=ofp.OFPFC_DELETE, table_id=ofp.OFPTT_ALL, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY,
    out_group=ofp.OFPG_ANY, match=p.OFPMatch(eth_type=0x0806, arp_op=1, arp_spa=('10.0.0.0', '255.255.255.0'),
                                             arp_tpa='10.0.0.2', arp_sha='02:00:00:00:00:01',
                                             arp_tha=('02:00:00:00:00:00', 'ff:ff:ff:00:00:00'))), 3)
add("FlowMod mpls", p.OFPFlowMod(
    dp, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
    match=p.OFPMatch(eth_type=0x8847, mpls_label=0xabcde, mpls_tc=5, mpls_bos=1),
    instructions=[p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [p.OFPActionOutput(1, 0)])]), 4)
add("FlowMod l4", p.OFPFlowMod(
    dp, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
    match=p.OFPMatch(eth_type=0x0800, ip_proto=132, sctp_src=1, sctp_dst=2, ipv4_dst='192.168.0.1')), 5)
add("FlowMod udp icmp", p.OFPFlowMod(
    dp, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
    match=p.OFPMatch(eth_type=0x0800, ip_proto=17, udp_src=53, udp_dst=5353, icmpv4_type=8, icmpv4_code=0,
                     tcp_src=1, ipv6_nd_tll='02:00:00:00:00:04')), 6)
add("GroupMod select", p.OFPGroupMod(dp, ofp.OFPGC_ADD, ofp.OFPGT_SELECT, 1, [
    p.OFPBucket(1, ofp.OFPP_ANY, ofp.OFPG_ANY, [p.OFPActionOutput(2, 0)]),
    p.OFPBucket(2, ofp.OFPP_ANY, ofp.OFPG_ANY, [p.OFPActionOutput(3, 0)])]), 7)
add("GroupMod ff", p.OFPGroupMod(dp, ofp.OFPGC_MODIFY, ofp.OFPGT_FF, 2, [
    p.OFPBucket(0, 1, ofp.OFPG_ANY, [p.OFPActionOutput(1, 0)]),
    p.OFPBucket(0, ofp.OFPP_ANY, 1, [p.OFPActionGroup(1)])]), 8)
add("GroupMod delete", p.OFPGroupMod(dp, ofp.OFPGC_DELETE, ofp.OFPGT_ALL, ofp.OFPG_ALL, []), 9)
add("PacketOut", p.OFPPacketOut(dp, ofp.OFP_NO_BUFFER, ofp.OFPP_CONTROLLER, [p.OFPActionOutput(ofp.OFPP_FLOOD, 0)],
                                bytes.fromhex('ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002')), 10)
add("PacketOut buffered", p.OFPPacketOut(dp, 5, 1, [p.OFPActionOutput(ofp.OFPP_TABLE, 0)], None), 11)
add("MeterMod", p.OFPMeterMod(dp, ofp.OFPMC_ADD, ofp.OFPMF_KBPS | ofp.OFPMF_BURST, 1, [
    p.OFPMeterBandDrop(1000, 100), p.OFPMeterBandDscpRemark(2000, 10, 1)]), 12)
add("PortMod", p.OFPPortMod(dp, 1, '02:00:00:00:00:01', ofp.OFPPC_NO_FWD, ofp.OFPPC_NO_FWD, 0), 13)
add("TableMod", p.OFPTableMod(dp, 3, 0), 14)
add("SetConfig", p.OFPSetConfig(dp, ofp.OFPC_FRAG_NORMAL, 128), 15)
add("RoleRequest", p.OFPRoleRequest(dp, ofp.OFPCR_ROLE_MASTER, 7), 16)
add("SetAsync", p.OFPSetAsync(dp, [1, 0], [7, 7], [15, 0]), 17)
add("EchoRequest", p.OFPEchoRequest(dp, b'ping'), 18)
add("Barrier", p.OFPBarrierRequest(dp), 19)
add("Features", p.OFPFeaturesRequest(dp), 20)
add("GetConfig", p.OFPGetConfigRequest(dp), 21)
add("QueueGetConfig", p.OFPQueueGetConfigRequest(dp, ofp.OFPP_ANY), 22)
add("GetAsync", p.OFPGetAsyncRequest(dp), 23)
add("Desc", p.OFPDescStatsRequest(dp, 0), 24)
add("FlowStats", p.OFPFlowStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0,
                                       p.OFPMatch(in_port=1)), 25)
add("Aggregate", p.OFPAggregateStatsRequest(dp, 0, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0, p.OFPMatch()), 26)
add("TableStats", p.OFPTableStatsRequest(dp, 0), 27)
add("PortStats", p.OFPPortStatsRequest(dp, 0, ofp.OFPP_ANY), 28)
add("QueueStats", p.OFPQueueStatsRequest(dp, 0, ofp.OFPP_ANY, ofp.OFPQ_ALL), 29)
add("GroupStats", p.OFPGroupStatsRequest(dp, 0, ofp.OFPG_ALL), 30)
add("GroupDesc", p.OFPGroupDescStatsRequest(dp, 0), 31)
add("GroupFeatures", p.OFPGroupFeaturesStatsRequest(dp, 0), 32)
add("MeterStats", p.OFPMeterStatsRequest(dp, 0, ofp.OFPM_ALL), 33)
add("MeterConfig", p.OFPMeterConfigStatsRequest(dp, 0, ofp.OFPM_ALL), 34)
add("MeterFeatures", p.OFPMeterFeaturesStatsRequest(dp, 0), 35)
add("PortDesc", p.OFPPortDescStatsRequest(dp, 0), 36)
add("TableFeatures empty", p.OFPTableFeaturesStatsRequest(dp, 0, []), 37)
add("TableFeatures set", p.OFPTableFeaturesStatsRequest(dp, 0, [p.OFPTableFeaturesStats(
    table_id=0, name=b't0', metadata_match=0xffffffffffffffff, metadata_write=0xffffffffffffffff, config=0,
    max_entries=1000, properties=[
        p.OFPTableFeaturePropInstructions(type_=ofp.OFPTFPT_INSTRUCTIONS, instruction_ids=[
            p.OFPInstructionId(ofp.OFPIT_GOTO_TABLE), p.OFPInstructionId(ofp.OFPIT_APPLY_ACTIONS)]),
        p.OFPTableFeaturePropNextTables(type_=ofp.OFPTFPT_NEXT_TABLES, table_ids=[1, 2]),
        p.OFPTableFeaturePropActions(type_=ofp.OFPTFPT_APPLY_ACTIONS, action_ids=[
            p.OFPActionId(ofp.OFPAT_OUTPUT), p.OFPActionId(ofp.OFPAT_SET_FIELD)]),
        p.OFPTableFeaturePropOxm(type_=ofp.OFPTFPT_MATCH, oxm_ids=[p.OFPOxmId('in_port'), p.OFPOxmId('eth_dst', hasmask=True)]),
        p.OFPTableFeaturePropExperimenter(type_=ofp.OFPTFPT_EXPERIMENTER, experimenter=0x2320, exp_type=1, data=[1, 2]),
    ])]), 38)
add("Experimenter", p.OFPExperimenter(dp, 0x2320, 10, b'\x01\x02'), 39)
add("ExperimenterMultipart", p.OFPExperimenterStatsRequest(dp, 0, 0x2320, 1, b'\x01'), 40)

print("# os-ken %s OpenFlow 1.3 serializer (testdata/osken/gen.py)" % "2.5.0")
for name, b in msgs:
    print("# " + name)
    print(b.hex())

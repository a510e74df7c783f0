"""openstacksdk against `nic-conformance mock`, with its own version discovery:
attach a port (with a tag at 2.70), list, show, detach, attach a network
with a fixed IP, and see the same address refused while it is in use.

    pip install openstacksdk
    nic-conformance mock --listen 127.0.0.1:18080 &
    python examples/clients/openstacksdk_client.py http://127.0.0.1:18080
"""
import sys

import openstack

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18080"
P = "0605767a3300d5762fb7c0186d9e1779"
S = "6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10"
SPARE = "ce531f90-199f-48c0-816c-13e38010b442"
NET = "3cb9bc59-5699-4588-a4b1-b87f96708bc6"
conn = openstack.connection.Connection(
    auth_type="none",
    compute_endpoint_override=f"{BASE}/v2.1/{P}",
    compute_api_version="2.70",
)
print("max microversion", conn.compute.get_endpoint_data().max_microversion)
made = conn.compute.create_server_interface(S, port_id=SPARE, tag="blue")
print("attached", made.port_id, "tag", made.tag)
print("listed", sorted(i.port_id for i in conn.compute.server_interfaces(S)))
shown = conn.compute.get_server_interface(SPARE, server=S)
print("shown", shown.port_id, shown.port_state, shown.tag)
conn.compute.delete_server_interface(SPARE, server=S)
print("after detach", sorted(i.port_id for i in conn.compute.server_interfaces(S)))
net = conn.compute.create_server_interface(S, net_id=NET, fixed_ips=[{"ip_address": "192.168.200.9"}])
print("net attach", net.port_id, net.fixed_ips)
try:
    conn.compute.create_server_interface(S, net_id=NET, fixed_ips=[{"ip_address": "192.168.200.9"}])
except Exception as e:
    print("same address again:", type(e).__name__, str(e)[:120])
conn.compute.delete_server_interface(net.port_id, server=S)
print("final", sorted(i.port_id for i in conn.compute.server_interfaces(S)))

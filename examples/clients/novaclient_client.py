"""python-novaclient against `nic-conformance mock` at 2.1 and 2.70: attach
a port with a tag, list, detach, and see 2.99 refused by the client's own
version check (the mock's maximum is 2.96).

    pip install python-novaclient
    nic-conformance mock --listen 127.0.0.1:18080 &
    python examples/clients/novaclient_client.py http://127.0.0.1:18080
"""
import sys

from keystoneauth1 import noauth, session
from novaclient import client

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18080"
P = "0605767a3300d5762fb7c0186d9e1779"
S = "6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10"
SPARE = "5a4e0000-0000-4000-8000-000000000001"
sess = session.Session(auth=noauth.NoAuth())
for version in ("2.1", "2.70"):
    nova = client.Client(version, session=sess, endpoint_override=f"{BASE}/v2.1/{P}")
    # Before 2.49 novaclient's interface_attach takes no tag at all.
    tagged = {"tag": "red"} if version == "2.70" else {}
    made = nova.servers.interface_attach(S, port_id=SPARE, net_id=None, fixed_ip=None, **tagged)
    print(version, "attached", made.port_id, "tag", made.to_dict().get("tag"))
    print(version, "listed", sorted(i.port_id for i in nova.servers.interface_list(S)))
    nova.servers.interface_detach(S, SPARE)
    print(version, "after detach", sorted(i.port_id for i in nova.servers.interface_list(S)))
try:
    client.Client("2.99", session=sess, endpoint_override=f"{BASE}/v2.1/{P}").servers.interface_list(S)
except Exception as e:
    print("2.99:", type(e).__name__, str(e)[:100])

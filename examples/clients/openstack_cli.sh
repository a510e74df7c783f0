#!/usr/bin/env bash
# The `openstack` CLI against `nic-conformance mock`: attach a port with a
# tag, list the server's ports through the network API, show the port,
# detach it, then attach a new port on the fixture network.
#
#     pip install python-openstackclient
#     nic-conformance mock --listen 127.0.0.1:18080 &
#     bash examples/clients/openstack_cli.sh http://127.0.0.1:18080
set -euo pipefail
BASE=${1:-http://127.0.0.1:18080}
P=0605767a3300d5762fb7c0186d9e1779
S=6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10
SPARE=ce531f90-199f-48c0-816c-13e38010b442
NET=3cb9bc59-5699-4588-a4b1-b87f96708bc6
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
# No identity service: each API's endpoint is given. The network API is the
# mock's /v2.0 (ports and networks, read only).
cat >"$conf" <<YAML
clouds:
  mock:
    auth_type: none
    compute_endpoint_override: $BASE/v2.1/$P
    compute_api_version: "2.70"
    network_endpoint_override: $BASE/v2.0
YAML
os() { OS_CLIENT_CONFIG_FILE=$conf openstack --os-cloud mock "$@"; }
os server add port --tag blue "$S" "$SPARE"
os port list --server "$S" -f value -c ID -c Status
echo "spare: $(os port show "$SPARE" -f value -c status)"
os server remove port "$S" "$SPARE"
echo "spare after remove: $(os port show "$SPARE" -f value -c status)"
os server add network "$S" "$NET"
os port list --server "$S" -f value -c ID -c "Fixed IP Addresses"

"""The vendor's Python SDK against `nic-conformance mock --require-auth`:
AK/SK-signed calls of the five operations, the job query and the reads.

    pip install huaweicloudsdkecs huaweicloudsdkvpc
    nic-conformance mock --listen 127.0.0.1:18081 --require-auth &
    python examples/clients/vendor_sdk.py http://127.0.0.1:18081
"""
import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkecs.v2 import EcsClient
from huaweicloudsdkecs.v2 import model as ecs
from huaweicloudsdkvpc.v3 import VpcClient
from huaweicloudsdkvpc.v3 import model as vpc

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18081"
PROJECT = "0605767a3300d5762fb7c0186d9e1779"
SERVER = "6e2f4c1a-8f0b-4a7e-9b52-1d3c0e9a7f10"
SPARE = "5a4e0000-0000-4000-8000-000000000002"
SUBNET = "d32019d3-bc6e-4319-9c1d-6722fc136a23"
SG = "f0ac4394-7e4a-4409-9701-ba8be283dbc3"
SUB_NIC = "2be868f2-f7c9-48db-abc0-eea0b9105b0d"
# The mock's default pair (NIC_MOCK_AK / NIC_MOCK_SK change it).
creds = BasicCredentials("TESTAKEXAMPLE0000000", "testskexample00000000000000000000000000", PROJECT)
config = HttpConfig.get_default_config()
config.ignore_ssl_verification = True
ecs_client = EcsClient.new_builder().with_credentials(creds).with_endpoint(BASE).with_http_config(config).build()
vpc_client = VpcClient.new_builder().with_credentials(creds).with_endpoint(BASE).with_http_config(config).build()


def wait(job_id):
    while True:
        job = ecs_client.show_job(ecs.ShowJobRequest(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            return job
        time.sleep(0.05)


def listed():
    answer = ecs_client.list_server_interfaces(ecs.ListServerInterfacesRequest(server_id=SERVER))
    return {i.port_id: i for i in answer.interface_attachments}


added = ecs_client.batch_add_server_nics(ecs.BatchAddServerNicsRequest(
    server_id=SERVER,
    body=ecs.BatchAddServerNicsRequestBody(nics=[
        ecs.BatchAddServerNicOption(subnet_id=SUBNET, security_groups=[ecs.ServerNicSecurityGroup(id=SG)]),
        ecs.BatchAddServerNicOption(subnet_id=SUBNET, port_id=SPARE),
    ])))
job = wait(added.job_id)
print("batch add:", job.status, [s.entities.nic_id for s in job.entities.sub_jobs])
new_nic = next(s.entities.nic_id for s in job.entities.sub_jobs if s.entities.nic_id != SPARE)
ecs_client.update_server_interface(ecs.UpdateServerInterfaceRequest(
    server_id=SERVER, port_id=SPARE,
    body=ecs.UpdateNicInfoRequestBody(
        interface_attachment=ecs.InterfaceAttachment(delete_on_termination=True))))
print("update attachment, read back:", listed()[SPARE].delete_on_termination)
updated = vpc_client.update_sub_network_interface(vpc.UpdateSubNetworkInterfaceRequest(
    sub_network_interface_id=SUB_NIC,
    body=vpc.UpdateSubNetworkInterfaceRequestBody(
        sub_network_interface=vpc.UpdateSubNetworkInterfaceOption(description="from the vendor SDK"))))
shown = vpc_client.show_sub_network_interface(vpc.ShowSubNetworkInterfaceRequest(sub_network_interface_id=SUB_NIC))
print("update sub-NIC:", updated.sub_network_interface.description, "| read back:", shown.sub_network_interface.description)
deleted = ecs_client.batch_delete_server_nics(ecs.BatchDeleteServerNicsRequest(
    server_id=SERVER,
    body=ecs.BatchDeleteServerNicsRequestBody(nics=[ecs.BatchDeleteServerNicOption(id=SPARE), ecs.BatchDeleteServerNicOption(id=new_nic)])))
print("batch delete:", wait(deleted.job_id).status, "| left:", sorted(listed()))
try:
    ecs_client.batch_delete_server_nics(ecs.BatchDeleteServerNicsRequest(
        server_id=SERVER,
        body=ecs.BatchDeleteServerNicsRequestBody(nics=[ecs.BatchDeleteServerNicOption(id="a1d0f6b2-3c4e-4f5a-8b6c-7d8e9f0a1b2c")])))
except Exception as e:
    print("primary NIC delete refused:", getattr(e, "status_code", "?"), getattr(e, "error_msg", e))

"""Serves the real nova compute API (PyPI `nova`) on loopback, for the
harness's own tests.

It builds the in-process cloud nova's functional tests use
(`_IntegratedTestBase`: sqlite databases, conductor, scheduler, one compute
on `nova.virt.fake`, placement, the neutron fixture), boots one server with
one port, and serves the `osapi_compute` WSGI app with wsgiref on
127.0.0.1. Three changes from the test setup, each what production does:

- SQLAlchemy deprecation warnings stay warnings (nova's test fixture turns
  them into errors, which makes every attach a 500);
- any `X-Auth-Token` makes the caller a member of the project, and a
  request without one is answered 401 (noauth2 is gone from nova);
- the neutron fixture's `create_port` honours a requested fixed IP: 409
  when another port holds it, 400 outside the subnet, and every port gets a
  MAC of its own.

Usage: serve.py PORT_FILE — writes {"url": ..., "fixtures": {...}} as one
JSON line to PORT_FILE once it listens, then serves until killed.
"""

import copy
import ipaddress
import json
import os
import random
import sys
import warnings
import wsgiref.simple_server

from nova.tests.functional import integrated_helpers
from nova.tests.fixtures import neutron as neutron_fixture
from nova.tests import fixtures as nova_fixtures


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _honour_fixed_ips(fixture):
    """create_port as neutron does it: the requested address or a free one."""
    subnet = fixture.subnet_1
    network = ipaddress.ip_network(subnet['cidr'], strict=False)
    gateway = subnet['gateway_ip']

    def held():
        return {
            ip['ip_address']
            for port in fixture._ports.values()
            for ip in port.get('fixed_ips', [])
        }

    def create_port(body=None):
        from neutronclient.common import exceptions as neutron_exc

        body = body or {'port': {}}
        asked = body['port'].get('fixed_ips') or []
        fixed = []
        for ip in asked:
            address = ip.get('ip_address')
            if address is None:
                continue
            try:
                inside = ipaddress.ip_address(address) in network
            except ValueError:
                inside = False
            if not inside or address in (gateway, str(network.network_address),
                                         str(network.broadcast_address)):
                raise neutron_exc.InvalidIpForNetworkClient()
            if address in held():
                raise neutron_exc.IpAddressInUseClient()
            fixed.append({'ip_address': address, 'subnet_id': subnet['id']})
        if not fixed:
            free = next(str(h) for h in network.hosts()
                        if str(h) not in held() and str(h) != gateway)
            fixed.append({'ip_address': free, 'subnet_id': subnet['id']})
        port = copy.deepcopy(fixture.default_port)
        port.update(copy.deepcopy(body['port']))
        port.update({
            'id': fixture_uuid(),
            'mac_address': 'fa:16:3e:' + ':'.join(
                '%02x' % random.randint(0, 255) for _ in range(3)),
            'fixed_ips': fixed,
            'device_id': body['port'].get('device_id', ''),
        })
        fixture._ports[port['id']] = port
        return {'port': copy.deepcopy(port)}

    fixture.create_port = create_port


def fixture_uuid():
    from oslo_utils import uuidutils
    return uuidutils.generate_uuid()


class Cloud(integrated_helpers._IntegratedTestBase):
    """nova's functional-test cloud, kept up after setUp."""

    def runTest(self):
        pass

    def _setup_services(self):
        # The paste file ships in the virtualenv's etc/, not beside the package.
        paste = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')
        self.flags(api_paste_config=paste, group='wsgi')
        super()._setup_services()


def _with_token_auth(app, project_id):
    """Any X-Auth-Token is a project member; no token is 401, as keystone does."""

    def wrapped(environ, start_response):
        # The version documents are public, as behind keystone.
        public = environ.get('PATH_INFO', '').rstrip('/') in ('', '/v2.1')
        if not public and not environ.get('HTTP_X_AUTH_TOKEN', '').strip():
            body = json.dumps({'error': {'code': 401, 'title': 'Unauthorized',
                                         'message': 'The request you have made requires authentication.'}}).encode()
            start_response('401 Unauthorized', [('Content-Type', 'application/json'),
                                                ('Content-Length', str(len(body)))])
            return [body]
        environ['HTTP_X_AUTH_USER'] = 'conformance'
        environ['HTTP_X_AUTH_PROJECT_ID'] = project_id
        environ['HTTP_X_ROLES'] = 'reader,member'
        return app(environ, start_response)

    return wrapped


def main():
    port_file = sys.argv[1]
    case = Cloud('runTest')
    case.setUp()
    # Production keeps deprecation warnings as warnings.
    warnings.resetwarnings()
    warnings.simplefilter('ignore')
    neutron = case.neutron
    _honour_fixed_ips(neutron)
    server = case._create_server(networks=[{'uuid': neutron.network_1['id']}])
    listed = case.api.api_get('/servers/%s/os-interface' % server['id']).body
    primary = listed['interfaceAttachments'][0]['port_id']
    project_id = nova_fixtures.PROJECT_ID
    app = _with_token_auth(case.api_fixture.app(), project_id)
    httpd = wsgiref.simple_server.make_server('127.0.0.1', 0, app, handler_class=_Quiet)
    url = 'http://127.0.0.1:%d' % httpd.server_port
    subnet = neutron.subnet_1
    facts = {
        'url': url,
        'project_id': project_id,
        'fixtures': {
            'server_id': server['id'],
            'primary_port_id': primary,
            'spare_port_id': neutron.port_1['id'],
            'network_id': neutron.network_1['id'],
            'subnet_id': subnet['id'],
            'security_group_id': neutron.security_group['id'],
            'subnet_cidr': str(ipaddress.ip_network(subnet['cidr'], strict=False)),
        },
    }
    tmp = port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write(json.dumps(facts) + '\n')
    os.replace(tmp, port_file)
    httpd.serve_forever()


if __name__ == '__main__':
    main()

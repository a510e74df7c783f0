#!/usr/bin/env bash
# Makes target/real-nova-venv: PyPI nova and what its functional-test cloud
# needs, for tests/real_nova.rs. Idempotent: a venv that imports nova's test
# cloud is kept. Prints why and exits 0 where Python cannot make a venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/real-nova-venv
probe="import nova.tests.functional.integrated_helpers, wsgi_intercept, placement"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$probe" 2>/dev/null; then
    exit 0
fi
if ! python3 -m venv "$venv" 2>/dev/null; then
    echo "real nova: skipped: python3 cannot make a virtualenv here (install python3-venv)" >&2
    rm -rf "$venv"
    exit 0
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    nova==34.0.0 openstack-placement==16.0.0 testtools==2.9.1 oslotest==6.1.1 \
    wsgi-intercept==1.13.1 osprofiler==4.4.0 ddt==1.7.2
"$venv/bin/python" -W ignore -c "$probe" 2>/dev/null || {
    echo "real nova: the virtualenv does not import nova's test cloud" >&2
    exit 1
}

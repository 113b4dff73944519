"""The identity ddmsp hands kopf, made without the passwd database.

Why: left to itself, kopf names the operator ``getpass.getuser()@host`` (its
``peering.detect_own_id``). ``getpass`` reads LOGNAME/USER/LNAME/USERNAME and then falls back
to ``pwd.getpwuid``. A pod has none of those variables, and an image with no passwd entry
for the pod's uid (the chart's 10001 on an image that lacks it, OpenShift's arbitrary uids)
makes that lookup raise ``KeyError: 'getpwuid(): uid not found'``: the operator exited before
its first watch (issue 20). Here the pod's name wins (the chart sets POD_NAME), then a user
name found without failing, then the numeric uid.
"""

from __future__ import annotations

import os
import pwd
import random
import socket
import string
from collections.abc import Mapping
from datetime import UTC, datetime

from kopf._core.engines.peering import Identity

_USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")  # getpass.getuser's order
_POD_VARIABLES = ("POD_ID", "POD_NAME")  # kopf's own variable first, then the chart's


def user_name(environ: Mapping[str, str] | None = None, uid: int | None = None) -> str:
    """getpass.getuser() that never raises: a uid with no passwd entry is ``uid<N>``."""
    env = os.environ if environ is None else environ
    for name in _USER_VARIABLES:
        if env.get(name):
            return env[name]
    uid = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def peering_identity(environ: Mapping[str, str] | None = None,
                     uid: int | None = None) -> Identity:
    """The pod's name in a pod; elsewhere kopf's own ``user@host/time/random`` form."""
    env = os.environ if environ is None else environ
    for name in _POD_VARIABLES:
        if env.get(name):
            return Identity(env[name])
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    rnd = "".join(random.choices(string.ascii_lowercase + string.digits, k=3))
    return Identity(f"{user_name(env, uid)}@{socket.gethostname()}/{now}/{rnd}")

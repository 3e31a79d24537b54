"""Constants of the API that light modules need without the models' dataclasses.

>>> API_PREFIX
'/api/svc/v1'
"""

from __future__ import annotations

from typing import Final

__all__ = ["API_PREFIX"]

#: Where the control plane serves the API, under the host: shared by the client and the
#: sandbox so that the two cannot drift apart.
API_PREFIX: Final = "/api/svc/v1"

"""What both services share: the Vonage application's credentials and the settings plumbing.

The audio service's call control and ``python -m webhooks dial`` both reach Vonage's
Voice REST API as the application (``application``), and both read their settings the
same way (``settings``: the application's variables, and one ``ConfigurationError``
naming each bad variable). Each image copies this package beside its own.
"""

from __future__ import annotations

from app_credentials.application import (
    DEFAULT_API_HOST,
    Application,
    is_vonage_api_host,
    load_application,
    normalise_private_key,
    sdk_auth,
    signing_key,
)
from app_credentials.settings import (
    ApplicationSettings,
    ConfigurationError,
    describe_validation_error,
)

__all__ = [
    "DEFAULT_API_HOST",
    "Application",
    "ApplicationSettings",
    "ConfigurationError",
    "describe_validation_error",
    "is_vonage_api_host",
    "load_application",
    "normalise_private_key",
    "sdk_auth",
    "signing_key",
]

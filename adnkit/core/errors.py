"""One exception for mistakes a person can fix (bad path, wrong layout, bad setting).

The CLI turns it into a one-line message and exit status 2, with no traceback; library callers can catch
it. Messages name the thing at fault and the fix, e.g. "data/x/train/good: no images found; put ...".
"""


class AdnkitError(Exception):
    """A user-fixable problem; str(err) is the whole one-line message."""


class ConfigError(AdnkitError):
    """A setting is out of range or inconsistent with another setting."""


class DataError(AdnkitError):
    """A dataset folder, file or image cannot be used as it is."""


class WeightsError(AdnkitError):
    """Pretrained weights cannot be found, downloaded or verified."""


class ExportError(AdnkitError):
    """A run cannot be exported to ONNX, or an ONNX file cannot be used as an adnkit detector."""

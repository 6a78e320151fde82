"""Old home of :mod:`cvtoolkit.transfer.weights_files` (weight-file names, no Keras import), kept for old callers.

Examples
--------
>>> from cvtoolkit.methods.backbone_weights import parse_weights_file
>>> parse_weights_file("mobilenet_2_5_224_tf_no_top.h5").alpha
0.25
"""

from cvtoolkit.transfer.weights_files import *  # noqa: F401,F403
from cvtoolkit.transfer.weights_files import (  # noqa: F401  (public constants outside __all__)
    BACKBONE_INPUT_SIZE,
    MOBILENET_BASE_URL,
    OFFLINE_ENV,
    WEIGHTS_URL_ENV,
    __all__,
    default_weights_url,
)

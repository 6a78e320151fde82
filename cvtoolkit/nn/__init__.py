"""Keras 3 CNN builders, one signature for all, and a registry by name.

Every builder takes ``keras.applications``' arguments (``input_shape``,
``classes``, ``include_top``, ``pooling``, ``classifier_activation``,
``name``, and keyword-only ``weights``, ``input_tensor``) plus its own
regularisation keywords (``weight_decay``, ``dropout``, ...), and returns an
uncompiled functional ``keras.Model`` made of built-in layers only: it saves
to ``.keras`` and loads back with ``keras.saving.load_model`` alone, under the
TensorFlow, JAX or PyTorch backend.

========================  ==============  =====================================
name                      default input   recipe
========================  ==============  =====================================
``shallownet``            32x32x3         conv 32 => dense
``lenet``                 28x28x1         2 x (conv, pool) => dense 500
``minivggnet``            32x32x3         2 VGG blocks, BN + dropout switchable
``alexnet``               227x227x3       AlexNet with BN (small inputs build)
``minigooglenet``         32x32x3         inception + downsample modules
``resnet``                32x32x3         pre-activation bottleneck ResNet
========================  ==============  =====================================

Examples
--------
>>> from cvtoolkit.nn import build_model, MODELS
>>> sorted(MODELS)
['alexnet', 'lenet', 'minigooglenet', 'minivggnet', 'resnet', 'shallownet']
>>> model = build_model("minivggnet", (32, 32, 3), classes=10, batch_norm=False)
>>> model.output_shape
(None, 10)
"""

from cvtoolkit._lazy import lazy_attributes

# Lazy (PEP 562): ``import cvtoolkit.nn`` (and cvtoolkit.nn.names, for --list-methods) does not import Keras.
_LAZY = {
    "MODELS": "cvtoolkit.nn.registry",
    "AlexNet": "cvtoolkit.nn.alexnet",
    "LeNet": "cvtoolkit.nn.lenet",
    "MiniGoogLeNet": "cvtoolkit.nn.minigooglenet",
    "MiniVGGNet": "cvtoolkit.nn.minivggnet",
    "ResNet": "cvtoolkit.nn.resnet",
    "ShallowNet": "cvtoolkit.nn.shallownet",
    "build_model": "cvtoolkit.nn.registry",
    "default_input_shape": "cvtoolkit.nn.registry",
    "default_input_size": "cvtoolkit.nn.registry",
    "get_builder": "cvtoolkit.nn.registry",
    "register_model": "cvtoolkit.nn.registry",
}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "MODELS",
    "AlexNet",
    "LeNet",
    "MiniGoogLeNet",
    "MiniVGGNet",
    "ResNet",
    "ShallowNet",
    "build_model",
    "default_input_shape",
    "default_input_size",
    "get_builder",
    "register_model",
]

"""Transfer learning on ``keras.applications`` backbones.

- :mod:`cvtoolkit.transfer.backbones`: the backbones by name (``vgg16``,
  ``resnet50``, ``mobilenet``, ``mobilenetv2``, ``efficientnetb0``), weights
  from Keras's cache, a download or a local file, and the preprocessing layer
  that applies each backbone's ``preprocess_input`` exactly once.
- :mod:`cvtoolkit.transfer.features`: :class:`BackboneFeatures`, pooled CNN
  features as a scikit-learn transformer (what ``cvtoolkit extract
  --features mobilenet`` runs).
- :mod:`cvtoolkit.transfer.weights_files`: which backbone a weights file
  holds, from its name alone (no Keras import).
- :mod:`cvtoolkit.transfer.finetune`: a new head on a frozen base, warm-up,
  then unfreezing the top layers at a lower learning rate.

Examples
--------
>>> from cvtoolkit.transfer import BackboneFeatures
>>> BackboneFeatures("mobilenet", alpha=0.25).get_params()["weights"]
'imagenet'
"""

from cvtoolkit._lazy import lazy_attributes

# Lazy (PEP 562): ``import cvtoolkit.transfer.weights_files`` (file names only) does not import Keras.
_LAZY = {name: f"cvtoolkit.transfer.{module}" for module, names in {
    "backbones": ("BACKBONES", "BackbonePreprocessing", "BackboneSpec", "build_backbone", "build_feature_extractor",
                  "get_backbone_spec", "imagenet_weights_file", "keras_cache_dir"),
    "features": ("BackboneFeatures", "make_backbone_features", "resize_batch"),
    "finetune": ("build_finetune_model", "fine_tune", "freeze_backbone", "unfreeze_top_layers"),
}.items() for name in names}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "BACKBONES",
    "BackboneFeatures",
    "BackbonePreprocessing",
    "BackboneSpec",
    "build_backbone",
    "build_feature_extractor",
    "build_finetune_model",
    "fine_tune",
    "freeze_backbone",
    "get_backbone_spec",
    "imagenet_weights_file",
    "keras_cache_dir",
    "make_backbone_features",
    "resize_batch",
    "unfreeze_top_layers",
]

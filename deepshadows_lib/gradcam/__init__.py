"""Grad-CAM maps of the last convolutional layer (Fig. 6 of the paper), via tf-keras-vis.

Grad-CAM (Selvaraju et al. 2017) weights the feature maps of a convolutional layer by the
spatial mean of the gradient of a class score with respect to them, sums over channels,
keeps the positive part and upsamples to the input size: bright regions are those whose
increase would most raise the score.  The paper used keras-vis on TensorFlow 1; here the
maintained successor tf-keras-vis does the work (:class:`tf_keras_vis.gradcam.Gradcam` with
:class:`~tf_keras_vis.utils.model_modifiers.ReplaceToLinear`, so that the score is the
pre-sigmoid/pre-softmax logit and saturated outputs still have gradients).

* :func:`gradcam_maps` -- maps for a batch of images, batched, on the last convolutional
  layer found automatically; ``method="hirescam"`` keeps the gradient at each position
  (HiResCAM, Draelos & Carin 2020) instead of averaging it over the image;
* :func:`select_examples` -- high-confidence TP, TN, FP and FN (``p > 0.8`` or ``p < 0.2``);
* :func:`gradcam_examples` -- both together: what the Grad-CAM figure plots;
* :func:`central_share`, :func:`disc_share`, :func:`centre_evidence` -- how much of a
  map lies on the central object, for Grad-CAM, HiResCAM and an occlusion map
  (:mod:`deepshadows_lib.occlusion`) of the same examples.

Why two methods: Grad-CAM weights each channel of the layer by its gradient averaged over
the image, which assumes a channel means the same wherever it fires (a network that ends
in global average pooling).  DeepShadows flattens its last maps into a dense layer: a
channel that fires on diffuse light counts for an LSBG at the centre and against it
around it (a neighbour's halo).  The average is then ruled by the surroundings, most of
the image, the central object gets a negative weight, and the final ReLU leaves maps that
avoid the object.  HiResCAM does not average, and agrees with occlusion sensitivity.

Two modules: :mod:`~deepshadows_lib.gradcam.maps` (the maps) and
:mod:`~deepshadows_lib.gradcam.examples` (the figure's examples and where the maps lie);
their names are re-exported here.  TensorFlow and tf-keras-vis are imported inside the
functions that need them.
"""

from . import examples, maps
from .examples import (CATEGORIES, central_share, centre_evidence, count_examples,
                       disc_share, gradcam_examples, select_examples)
from .maps import METHODS, gradcam_maps, last_conv_layer

__all__ = ["gradcam_maps", "last_conv_layer", "select_examples", "gradcam_examples",
           "central_share", "disc_share", "centre_evidence", "METHODS",
           "CATEGORIES", "count_examples", "examples", "maps"]

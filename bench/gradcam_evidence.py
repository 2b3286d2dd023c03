"""Grad-CAM variants on a saved model: central share of Grad-CAM (conv3, pool3, conv2), of
the negative part of Grad-CAM, HiResCAM and LayerCAM, for 60 confident true positives.

    .venv/bin/python bench/gradcam_evidence.py build/levers/m6000_2100.keras bn

Results: bench/gradcam_evidence.json (printed JSON copied there, one entry per model).
"""
import sys, json, numpy as np
from deepshadows_lib import pipeline, training, gradcam, occlusion
import tensorflow as tf
model = training.load_model(sys.argv[1])
store = pipeline.simulated_store("build/levers/des_6000.zarr", n_per_class=6000, survey="des", classes=("lsbg","artifact2"), seed=42, progress=False)
prob = pipeline.load_problem(store, classes=("lsbg","artifact2"), seed=42)
te = prob.split["test"]; y = prob.labels[te]; x = prob.images[te]
if "masked" in sys.argv[1]:
    x = occlusion.mask_neighbours(x)
    train_images = occlusion.mask_neighbours(prob.images[prob.split["train"]])
else:
    train_images = prob.images[prob.split["train"]]
if len(sys.argv) > 2 and sys.argv[2] == "bn":
    from deepshadows_lib import bn_stats
    bn_stats.reestimate_batch_norm(model, train_images)
p = training.predict(model, x)
sel = np.flatnonzero((y==1)&(p>0.8))[:60]
xs = x[sel].astype(np.float32)/255
out = {}
for layer in ("conv3", "pool3", "conv2"):
    m = gradcam.gradcam_maps(model, x[sel], class_index=1, layer_name=layer)
    out[f"gradcam_{layer}"] = float(np.nanmedian(gradcam.central_share(m)))
# raw (signed) grad-cam and hirescam on conv3 by hand
lin = tf.keras.models.clone_model(model) if False else model
sub = tf.keras.Model(model.inputs[0], [model.get_layer("conv3").output, model.get_layer("output").output])
# logit: recompute via output pre-activation: use log(p/(1-p))
with tf.GradientTape() as tape:
    A, out_p = sub(xs, training=False)
    logit = tf.math.log(out_p[:,0]) - tf.math.log(1-out_p[:,0])
g = tape.gradient(logit, A).numpy(); A = A.numpy()
w = g.mean(axis=(1,2), keepdims=True)
signed = (w*A).sum(-1)
def share(m):
    mm = np.repeat(np.repeat(m, 4, axis=1), 4, axis=2)
    return float(np.nanmedian(gradcam.central_share(mm)))
out["gradcam_conv3_manual"] = share(np.maximum(signed,0))
out["gradcam_conv3_negative_part"] = share(np.maximum(-signed,0))
hires = (g*A).sum(-1)
out["hirescam_conv3"] = share(np.maximum(hires,0))
out["layercam_conv3"] = share((np.maximum(g,0)*A).sum(-1))
# how much of the gradient sits in the centre, per channel-weight sign
disc = occlusion.central_mask((16,16), radius=3)
out["frac_channels_negative_weight"] = float((w<0).mean())
out["grad_centre_mean"] = float(g[:, disc].mean()); out["grad_out_mean"] = float(g[:, ~disc].mean())
out["n"] = int(len(sel))
print(json.dumps(out, indent=1))

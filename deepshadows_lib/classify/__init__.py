"""Survey-scale classification: a trained model over a whole cutout store.

:func:`classify_store` runs a saved DeepShadows model over every cutout of a store and
writes one Parquet table of predictions (``ra``, ``dec``, the store's identifier and label
columns when it has them, the probabilities, ``store_row``), in the column order of every
predictions table of the library (:func:`deepshadows_lib.schema.prediction_columns`).  It
is built for stores far larger than memory and for runs that get killed:

* **Flat memory.**  The images are read one on-disk chunk at a time (the next chunk is
  read by a helper thread while the network runs on this one), the network takes the
  uint8 batch itself, and the final table is written by streaming the catalog and the
  per-chunk results; nothing proportional to the store is ever held in memory.
* **Resumable.**  The unit of work is one store chunk (:mod:`.parts`): each finished
  chunk is written atomically to ``OUT.parts/chunk-NNNNNN.parquet``; a rerun of the same
  job skips those chunks, and once all are present they are joined into ``OUT``
  (atomically, :mod:`.output`) and the parts are removed.
* **Scale-out on Dask** (:mod:`.runners`).  With ``scheduler="local"`` (a
  ``LocalCluster`` on 127.0.0.1), a ``tcp://host:port`` address, or an existing
  ``distributed.Client``, the same per-chunk function runs on Dask workers through
  ``dask.array.from_zarr(...).map_blocks(...)``; each worker loads the model once.
  Workers read the model and the store from their paths, so on a real cluster both must
  sit on a shared file system.  Results are bit-identical to the single-process path
  because every chunk is cut into the same batches whichever process runs it.

Probability columns are named after the three-class target (artifact2 = 0, lsbg = 1,
artifact1 = 2): a binary (sigmoid) model or ``plus`` ensemble gives ``p_lsbg`` and its
``uncertainty``; a three-class (softmax) model gives ``p_artifact2``, ``p_artifact1`` and
``p_lsbg``.  The networks run their folded inference graph
(:func:`deepshadows_lib.nn.inference.inference_function`, :mod:`.model`).

Modules
-------
model     load (once per process), check and run the model in fixed batches
source    the store's images and the catalog's footer, validated
parts     resumable per-chunk results and the job record
output    the predictions table: columns, streaming join, summary
runners   this process (with a read-ahead thread) or a Dask cluster
job       :func:`classify_store`

TensorFlow is imported only by the functions that run the model.
"""

from . import job, model, output, parts, runners, source
from .job import classify_store
from .model import _MODEL_CACHE, _predict_block, predict_images
from .output import (PASSTHROUGH_COLUMNS, _join_parts, output_columns, probability_columns,
                     summarize_predictions, table_columns)
from .parts import parts_dir
from .runners import _start_local_cluster

__all__ = ["classify_store", "probability_columns", "output_columns", "predict_images",
           "parts_dir", "summarize_predictions", "PASSTHROUGH_COLUMNS", "last_run",
           "table_columns"]


def __getattr__(name):
    # last_run is rebound by every classify_store call: read it from the job module
    if name == "last_run":
        return job.last_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

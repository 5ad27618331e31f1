"""Helpers shared by the notebooks on saving and loading models under ``tf.distribute``.

One concern per module:

- :mod:`helpers.devices`     – split the CPU into logical devices, build strategies
- :mod:`helpers.data`        – MNIST as the notebooks read it: class counts, the tutorial's input pipeline
- :mod:`helpers.mnist_prep`  – prepare MNIST for ``tfds.load``, online or offline (``make data``)
- :mod:`helpers.mnist_integrity` – is a prepared MNIST whole: verify it, record and check each file's size + sha256
- :mod:`helpers.models`      – the tutorial's model (Keras 3 or ``tf_keras``)
- :mod:`helpers.roundtrip`   – prediction / optimizer-state equality after a save → load
- :mod:`helpers.load_attempts` – try a loader on a saved file, one stable line for what came back (Keras 2 files, 04)
- :mod:`helpers.claims`    – one claim, one check: ``verify({claim: condition})`` prints ``✓ claim``, fails listing
  every false one
- :mod:`helpers.plots`       – digit grids, class histograms, loss curves
- :mod:`helpers.processes`   – start processes, always stop them (``ProcessGroup``, ``run_python``, ports, logs)
- :mod:`helpers.tf_server`   – a ``tf.distribute.Server`` in a subprocess (the local-I/O lesson, 05)
- :mod:`helpers.ps_cluster`  – a parameter-server cluster of workers and PS as server subprocesses: start, kill,
  restart, stop (12)
- :mod:`helpers.tf_errors`   – the stable parts of a TensorFlow I/O error (missing path, op, job, hint; 05)
- :mod:`helpers.multiworker` – the launcher for ``MultiWorkerMirroredStrategy`` workers: ``TF_CONFIG``, launch,
  log paths, kill and resume, the workers' event lines (07, 10)
- :mod:`helpers.multiworker_config` – the launcher ↔ worker-script contract (event prefix, pause variables)
- :mod:`helpers.multiworker_hooks` – optional demo hooks (event lines, a pause point) for 07's worker scripts
- :mod:`helpers.atomic_save` – save to a temporary name, fsync, then atomically replace: a crash mid-save keeps the
  last good model (09)
- :mod:`helpers.preemption`  – the preemption demo's worker-side pause: wait at a known step for the SIGTERM the
  notebook sends (10)
- :mod:`helpers.errors`      – ``DataError`` (preparing MNIST), ``WorkerError`` (a started process failed) and
  ``ClaimError`` (a lesson's claim did not hold)

Modules are imported on demand so that ``import helpers`` never initialises TensorFlow.
"""

__version__ = "0.1.0"

"""The drift benchmark's peers: River's ADWIN and Evidently's data drift test, each run by a runner module
inside its own ``.bench/drift-<peer>`` virtualenv (:mod:`.envs` creates them and runs the runners).

The runners (:mod:`.river_runner`, :mod:`.evidently_runner`) import only the standard library, numpy,
:mod:`..streams` and their peer's package.
"""

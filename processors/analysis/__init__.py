"""The drift and quality engine: small stateful objects over plain numpy arrays.

Each piece is usable on its own (``update_many(array)``, ``merge(other)``, a JSON-able state):
profiles and sketches (:mod:`.sketch`, :mod:`.profile`), distribution distances
(:mod:`.divergence`), thresholds calibrated to the window size and multiple-testing control
(:mod:`.calibration`), sequential change detectors (:mod:`.detectors`). The processor's analysis
stage feeds them values extracted from spans.
"""

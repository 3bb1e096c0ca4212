"""Responsible AI before deployment: a red-team scan of a release.

``suite`` loads the built-in attacks (EN/ES, OWASP-mapped categories) and the planted test
documents; ``plant`` makes the throw-away knowledge-base version a scan attacks; ``detectors``
judge each outcome and say why; ``scan`` runs, stores, reads, compares and gates scans;
``jobs`` runs a scan in the background for the console.
"""

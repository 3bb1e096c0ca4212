"""Governance: erasure of one person's data, retention per kind of data, and the audit log.

- ``erasure``: ``erase(db, user=... | session=...)`` removes every row derived from a person
  (traces, spans, feedback, guard events, review items, dataset items and the evaluation
  traces made from them, gap candidates, scores) and scrubs the ids and copied text from the
  records that only mention them (improvements, audit rows); rollups lose exactly what the
  erased traces added; one audit row proves it with counts and a keyed hash of the subject.
- ``retention``: deletes rows older than each kind's retention, in bounded batches, without
  changing the rollups.
- ``audit``: the audit log as a filtered, paged list and as CSV / JSONL exports.
"""

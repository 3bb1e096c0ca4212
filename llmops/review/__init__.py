"""Human review: queues of traces, reviewer verdicts, and how much reviewers (and the
automatic evaluators) agree."""

"""Step-level episodic memory and the advice built on it.

Every ingested step is a `Step` node (its newest message embedded, its whole observation window
embedded through the cache). `index.StepMemory` holds them in memory per store generation;
`sources` are the candidate next actions each signal proposes (nearest steps, abstract-state
transitions, history n-grams, skills and plans); `features` turns them into one row per
candidate; `model` is the learned fusion and the avoid (risk) model, fit by the `advice` refine
pass on the store's own episodes, leave-episode-out."""

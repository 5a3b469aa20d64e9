"""The course side: each chapter's analyses (the code a chapter introduces, by topic).

- ``scratch_attention`` — chapter 1: attention from scratch, reference solutions and toy heads
- ``sweep``, ``streaming``, ``real_sizes``, ``published`` — chapter 3: sweeps over models, StreamingLLM,
  random-init models of real sizes, published numbers with provenance
- ``ablate`` — chapters 3–4: ablation hooks
- ``p0_circuit`` — chapter 4: the P0 sink circuit
- ``over_mixing`` — chapter 5: over-mixing theory (Barbero et al.)
- ``experiments``, ``text_runs``, ``recorded_runs`` — chapter 6: Bigram-Backcopy, small LMs on text and fine-tuning, and their recorded runs
"""

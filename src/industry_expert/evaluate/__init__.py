"""Evaluation on the user's own questions: question sets, metrics, and (to come) the four modes
(base, RAG, fine-tuned, both) compared with confidence intervals."""

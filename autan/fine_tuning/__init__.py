"""Fine-tuning: datasets, jobs, the trainer process and the adapters it writes."""

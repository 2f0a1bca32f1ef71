"""Storage: where conversations, the outbox, the inbox and call-back requests are kept.

`sqlite` is the embedded backend; `crypto` encrypts patients' data at rest; `personal_data`
scrubs what is kept for the staff report.
"""

"""The clinic service between channels and the core: one input -> one committed turn.

It loads the state, asks the core, and applies the turn's effects (save a call-back request,
forget a patient) in one storage transaction with the new state and the queued replies; it
answers staff commands for the staff's chats only.
"""

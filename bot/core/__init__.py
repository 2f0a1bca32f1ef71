"""The dialogue core: (a patient's state, what they did) -> (replies, new state).

Pure and channel-free: no messenger library, no storage, no clock. Every channel and the tests
drive `dialogue.Dialogue.handle`; the flows (self-check, call-back request, safety question)
are small state machines that refuse stale presses.
"""

"""Wire protocols as plug-ins: each says how it is reached, how it talks and how it encodes.

A wire (``tidings.wires.base.Wire``) bundles a protocol's route, its session
factory and the encoders the hub uses to turn domain messages into frames.
``tidings.bootstrap`` lists the wires a server speaks; adding a protocol is a
new module here plus one line there.
"""

"""Late outcomes (SPEC §9): bounces and complaints that arrive after the relay took the mail.

They come as mail (an MTA pipe into `digest bounces process`, or the bounce mailbox that beat
polls) or as provider webhooks. `reports` reads a message into `Report`s, `webhooks` a provider's
event; `outcomes` matches each to a reader by its signed token and applies the rules.
"""

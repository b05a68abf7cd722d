"""The personalised designer (seed "Personalized Fashion Design", Sec. 3): a generator conditioned on a query
item and a user's θu, trained against a real/fake and a compatibility discriminator."""

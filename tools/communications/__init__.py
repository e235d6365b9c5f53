"""Communications tools: the customer inbox (read, reply, assign), team chat, notifications and
the workspace's phone numbers.

Importing the package registers every communications tool; `inbox` holds the customer-facing
conversations, `team` what members say to each other and what the assistant tells them,
`phone_numbers` the numbers the workspace sends from, and `common` what they share.
"""

from tools.communications import inbox, phone_numbers, team

__all__ = ["inbox", "phone_numbers", "team"]

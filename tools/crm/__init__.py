"""CRM tools: contacts and their interactions, deals, prospects, customers and projects.

Importing the package registers every CRM tool; the modules split the domain by what a user
works on, and `common` holds the money arguments and output models they share.
"""

from tools.crm import contacts, customers, deals, prospects

__all__ = ["contacts", "customers", "deals", "prospects"]

"""Word lists for deterministic demo data."""

FIRST_NAMES = [
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Priya", "Lucas", "Chloe", "Mateo", "Aisha",
    "Leo", "Sofia", "Kenji", "Amara", "Oliver", "Ines", "Hugo", "Freya", "Omar", "Elena", "Jonas",
    "Nina", "Ravi", "Clara", "Diego", "Hana", "Felix", "Mila", "Tomas", "Sara", "Arjun",
]
LAST_NAMES = [
    "Chen", "Garcia", "Patel", "Smith", "Kowalski", "Nguyen", "Rossi", "Okafor", "Muller",
    "Tanaka", "Silva", "Dubois", "Johansson", "Haddad", "Novak", "Kim", "Lopez", "Fischer",
    "Murphy", "Singh", "Costa", "Berg", "Ivanova", "Moreau", "Sato", "Walsh", "Khan", "Weber",
]
COMPANIES = [
    "Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Logistics", "Wayne Foods",
    "Hooli", "Vandelay Imports", "Soylent Labs", "Cyberdyne", "Wonka Retail", "Tyrell Bio",
    "Gringotts Finance", "Oscorp", "Pied Piper", "Massive Dynamic", "Aperture Science",
    "Blue Sun", "Nakatomi Trading", "Monarch Solar", "Dunder Paper", "Prestige Worldwide",
    "Sterling Cooper", "Bluth Homes", "Kramerica", "Wernham Hogg", "Los Pollos", "Virtucon",
    "Northwind Traders", "Contoso", "Fabrikam", "Tailspin Toys", "Litware", "Adventure Works",
    "Proseware", "Lucerne Publishing", "Coho Winery", "Alpine Ski House", "Fourth Coffee",
    "Margie's Travel", "Trey Research", "Wingtip Toys", "Woodgrove Bank", "Zava Labs",
]
JOB_TITLES = [
    "CEO", "CTO", "VP Sales", "Head of Marketing", "Operations Manager", "Procurement Lead",
    "Product Manager", "CFO", "IT Director", "Customer Success Lead", "Founder", "Engineer",
]
SOURCES = ["website", "referral", "webinar", "linkedin", "trade_show", "cold_outreach", "partner"]

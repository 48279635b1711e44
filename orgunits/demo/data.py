"""The demo organisation's fixed data: units, people, entities and the cloud estate."""

SEED = 20240601
COMPANY = ("northwind", "Northwind Labs")


# code, name, parent code, cost centre (departments carry the cost centre their teams use)
DIVISIONS = [
    ("eng", "Engineering"),
    ("product", "Product"),
    ("gtm", "Go-to-Market"),
    ("ops", "Operations"),
]
DEPARTMENTS = [
    ("eng-platform", "Platform Engineering", "eng", "CC-1100"),
    ("eng-data", "Data & ML", "eng", "CC-1200"),
    ("eng-product", "Product Engineering", "eng", "CC-1300"),
    ("eng-security", "Security", "eng", "CC-1400"),
    ("product-design", "Design", "product", "CC-2100"),
    ("product-management", "Product Management", "product", "CC-2200"),
    ("gtm-sales", "Sales", "gtm", "CC-3100"),
    ("gtm-marketing", "Marketing", "gtm", "CC-3200"),
    ("gtm-success", "Customer Success", "gtm", "CC-3300"),
    ("ops-finance", "Finance", "ops", "CC-4100"),
    ("ops-people", "People", "ops", "CC-4200"),
    ("ops-it", "Corporate IT", "ops", "CC-4300"),
]
TEAMS = [
    ("team-compute", "Compute", "eng-platform"),
    ("team-networking", "Networking", "eng-platform"),
    ("team-observability", "Observability", "eng-platform"),
    ("team-data-platform", "Data Platform", "eng-data"),
    ("team-analytics", "Analytics", "eng-data"),
    ("team-ml", "Machine Learning", "eng-data"),
    ("team-checkout", "Checkout", "eng-product"),
    ("team-search", "Search", "eng-product"),
    ("team-mobile", "Mobile", "eng-product"),
    ("team-appsec", "Application Security", "eng-security"),
    ("team-secops", "Security Operations", "eng-security"),
    ("team-ux-research", "UX Research", "product-design"),
    ("team-design-systems", "Design Systems", "product-design"),
    ("team-pm-core", "Core Product", "product-management"),
    ("team-pm-growth", "Growth", "product-management"),
    ("team-sales-emea", "Sales EMEA", "gtm-sales"),
    ("team-sales-amer", "Sales Americas", "gtm-sales"),
    ("team-brand", "Brand", "gtm-marketing"),
    ("team-demand-gen", "Demand Generation", "gtm-marketing"),
    ("team-support", "Support", "gtm-success"),
    ("team-onboarding", "Onboarding", "gtm-success"),
    ("team-fpa", "FP&A", "ops-finance"),
    ("team-procurement", "Procurement", "ops-finance"),
    ("team-recruiting", "Recruiting", "ops-people"),
    ("team-workplace-it", "Workplace IT", "ops-it"),
    ("team-corp-apps", "Corporate Applications", "ops-it"),
]
# Teams without an owner of their own: their costs route to the department head.
UNOWNED_TEAMS = {"team-ux-research", "team-procurement", "team-recruiting"}

FIRST_NAMES = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe", "Arjun", "Bianca", "Carlos", "Dana", "Emil", "Fatima",
    "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Mateo", "Noor", "Oscar", "Priya", "Rafael",
    "Sara", "Theo", "Uma", "Viktor", "Wanda", "Xavier", "Yara", "Zane", "Amara", "Bruno",
    "Celine", "Dmitri", "Eva", "Felix", "Gita", "Henrik", "Isla", "Jamal", "Keiko", "Lucas",
    "Mina", "Nils", "Omar", "Paula", "Rhea", "Stefan", "Tomas", "Ulla", "Valentina", "Willem",
]  # fmt: skip
LAST_NAMES = [
    "Lovelace", "Okafor", "Martin", "Patel", "Petrova", "Haddad", "Hopper", "Laurent", "Costa",
    "Berg", "Tanaka", "Murphy", "Cohen", "Rao", "Ivanova", "Garcia", "Nguyen", "Rossi", "Larsen",
    "Singh", "Khan", "Novak", "Zhang", "Lopez", "Demir", "Fischer", "Mehta", "Conti", "Silva",
    "Walsh", "Andersen", "Rahman", "Schmidt", "Kimura", "Popov", "Moreau", "Mensah", "Weber",
    "Romero", "Aziz", "Lindqvist", "Iyer", "Santos", "Bakker", "Novotny", "Ortiz", "Dubois",
    "Horvat", "Chen", "Kowalski", "Yilmaz", "Adeyemi", "Ferreira", "Jansen", "Sato",
]  # fmt: skip

# --- entities: name, kind, team, app slug ---------------------------------------------
ENTITIES = [
    ("Kubernetes Platform", "system", "team-compute", "k8s-platform"),
    ("CI Runners", "service", "team-compute", "ci-runners"),
    ("Edge Network", "system", "team-networking", "edge"),
    ("Observability Stack", "system", "team-observability", "observability"),
    ("Data Lake", "system", "team-data-platform", "data-lake"),
    ("Event Pipeline", "service", "team-data-platform", "event-pipeline"),
    ("BI Dashboards", "application", "team-analytics", "bi"),
    ("Feature Store", "service", "team-ml", "feature-store"),
    ("Recommendation Model", "service", "team-ml", "recommender"),
    ("LLM Assistant", "application", "team-ml", "assistant"),
    ("Checkout API", "service", "team-checkout", "checkout"),
    ("Payments Gateway", "service", "team-checkout", "payments"),
    ("Search Indexer", "service", "team-search", "search"),
    ("Mobile Backend", "service", "team-mobile", "mobile-api"),
    ("Web Storefront", "application", "team-mobile", "storefront"),
    ("Vulnerability Scanner", "system", "team-appsec", "vuln-scan"),
    ("SIEM", "system", "team-secops", "siem"),
    ("Research Repository", "application", "team-ux-research", "research-repo"),
    ("Design Tokens Service", "service", "team-design-systems", "design-tokens"),
    ("Experimentation Platform", "service", "team-pm-growth", "experiments"),
    ("Figma Enterprise", "contract", "team-design-systems", "figma"),
    ("Salesforce Sales Cloud", "contract", "team-sales-emea", "salesforce"),
    ("Gong", "contract", "team-sales-amer", "gong"),
    ("HubSpot Marketing Hub", "contract", "team-demand-gen", "hubspot"),
    ("Brand Website", "application", "team-brand", "brand-site"),
    ("Zendesk Suite", "contract", "team-support", "zendesk"),
    ("Onboarding Portal", "application", "team-onboarding", "onboarding"),
    ("Planning Models", "system", "team-fpa", "planning"),
    ("Workday HCM", "contract", "team-recruiting", "workday"),
    ("Okta Workforce Identity", "contract", "team-corp-apps", "okta"),
]
# Contracts and SaaS are paid by invoice, not run on a cloud: they get no resources.
SAAS_ENTITIES = {"figma", "salesforce", "gong", "hubspot", "zendesk", "workday", "okta"}

# --- the cloud estate ------------------------------------------------------------------
AWS_ACCOUNTS = {"prod": "318574920143", "staging": "604219783350", "dev": "771903268415"}
AWS_REGIONS = ["us-east-1", "eu-west-1", "eu-central-1"]
GCP_PROJECTS = {"prod": "northwind-prod", "staging": "northwind-staging", "dev": "northwind-dev"}
GCP_REGIONS = ["europe-west1", "us-central1"]
AZURE_REGIONS = ["westeurope", "northeurope", "eastus"]
K8S_CLUSTERS = {
    "prod": ("prod-eu-1", "eu-west-1"),
    "staging": ("staging-eu-1", "eu-west-1"),
    "dev": ("dev-us-1", "us-east-1"),
}
PROVIDER_COUNTS = {"aws": 80, "gcp": 45, "azure": 35, "k8s": 40}
ENVS = ["prod", "prod", "prod", "staging", "dev"]  # weighted: most spend is production

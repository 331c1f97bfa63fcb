"""Every enumeration and limit of the EU DSA Transparency Database's
statement-of-reasons schema (version 2), in one place. The schema changes
from time to time: change it here, and only here (docs/dsa.md).

Pure data: no Django imports, so the lower layers' validators (registered
from DsaConfig.ready) and the migrations can use it.
"""

SCHEMA_VERSION = 2

DECISION_VISIBILITY: dict[str, str] = {
    "DECISION_VISIBILITY_CONTENT_REMOVED": "Removal of content",
    "DECISION_VISIBILITY_CONTENT_DISABLED": "Disabling access to content",
    "DECISION_VISIBILITY_CONTENT_DEMOTED": "Demotion of content",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED": "Age restricted content",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED": "Restricting interaction with content",
    "DECISION_VISIBILITY_CONTENT_LABELLED": "Labelled content",
    "DECISION_VISIBILITY_OTHER": "Other restriction (please specify)",
}

DECISION_MONETARY: dict[str, str] = {
    "DECISION_MONETARY_SUSPENSION": "Suspension of monetary payments",
    "DECISION_MONETARY_TERMINATION": "Termination of monetary payments",
    "DECISION_MONETARY_OTHER": "Other restriction (please specify)",
}

DECISION_PROVISION: dict[str, str] = {
    "DECISION_PROVISION_PARTIAL_SUSPENSION": "Partial suspension of the provision of the service",
    "DECISION_PROVISION_TOTAL_SUSPENSION": "Total suspension of the provision of the service",
    "DECISION_PROVISION_PARTIAL_TERMINATION": "Partial termination of the provision of the service",
    "DECISION_PROVISION_TOTAL_TERMINATION": "Total termination of the provision of the service",
}

DECISION_ACCOUNT: dict[str, str] = {
    "DECISION_ACCOUNT_SUSPENDED": "Suspension of the account",
    "DECISION_ACCOUNT_TERMINATED": "Termination of the account",
}

ACCOUNT_TYPE: dict[str, str] = {
    "ACCOUNT_TYPE_BUSINESS": "Business",
    "ACCOUNT_TYPE_PRIVATE": "Private",
}
# The intake's account_type values (integrations.api.serializers) and the schema's codes for them.
INTAKE_ACCOUNT_TYPES: dict[str, str] = {"business": "ACCOUNT_TYPE_BUSINESS", "private": "ACCOUNT_TYPE_PRIVATE"}

DECISION_GROUND: dict[str, str] = {
    "DECISION_GROUND_ILLEGAL_CONTENT": "Illegal Content",
    "DECISION_GROUND_INCOMPATIBLE_CONTENT": "Content incompatible with terms and conditions",
}

CONTENT_TYPE: dict[str, str] = {
    "CONTENT_TYPE_APP": "App",
    "CONTENT_TYPE_AUDIO": "Audio",
    "CONTENT_TYPE_IMAGE": "Image",
    "CONTENT_TYPE_PRODUCT": "Product",
    "CONTENT_TYPE_SYNTHETIC_MEDIA": "Synthetic Media",
    "CONTENT_TYPE_TEXT": "Text",
    "CONTENT_TYPE_VIDEO": "Video",
    "CONTENT_TYPE_OTHER": "Other",
}

CATEGORY: dict[str, str] = {
    "STATEMENT_CATEGORY_ANIMAL_WELFARE": "Animal welfare",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION": "Consumer information infringements",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE": "Cyber violence",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN": "Cyber violence against women",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS": "Data protection and privacy violations",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": "Illegal or harmful speech",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS": "Intellectual property infringements",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS": "Negative effects on civic discourse or elections",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE": "Type of alleged illegal content not specified by the notifier",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": "Other violation of provider’s terms and conditions",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": "Protection of minors",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY": "Risk for public security",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": "Scams and/or fraud",
    "STATEMENT_CATEGORY_SELF_HARM": "Self-harm",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS": "Unsafe, non-compliant or prohibited products",
    "STATEMENT_CATEGORY_VIOLENCE": "Violence",
}

CATEGORY_SPECIFICATION: dict[str, str] = {
    "KEYWORD_ADULT_SEXUAL_MATERIAL": "Adult sexual material",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS": "Age-specific restrictions",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS": "Age-specific restrictions concerning minors",
    "KEYWORD_ANIMAL_HARM": "Animal harm",
    "KEYWORD_BIOMETRIC_DATA_BREACH": "Biometric data breach",
    "KEYWORD_BULLYING_AGAINST_GIRLS": "Cyber bullying and intimidation against girls",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL": "Child sexual abuse material",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE": "Child sexual abuse material containing deepfake or similar technology",
    "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS": "Content promoting eating disorders",
    "KEYWORD_COORDINATED_HARM": "Coordinated harm",
    "KEYWORD_COPYRIGHT_INFRINGEMENT": "Copyright infringements",
    "KEYWORD_CYBER_BULLYING_INTIMIDATION": "Cyber bullying and intimidation",
    "KEYWORD_CYBER_HARASSMENT": "Cyber harassment",
    "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN": "Cyber harassment against women",
    "KEYWORD_CYBER_INCITEMENT": "Cyber incitement to hatred or violence",
    "KEYWORD_CYBER_STALKING": "Cyber stalking",
    "KEYWORD_CYBER_STALKING_AGAINST_WOMEN": "Cyber stalking against women",
    "KEYWORD_DATA_FALSIFICATION": "Data falsification",
    "KEYWORD_DEFAMATION": "Defamation",
    "KEYWORD_DESIGN_INFRINGEMENT": "Design infringements",
    "KEYWORD_DISCRIMINATION": "Discrimination",
    "KEYWORD_FEMALE_GENDERED_DISINFORMATION": "Gendered disinformation",
    "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT": "Geographic indications infringements",
    "KEYWORD_GEOGRAPHICAL_REQUIREMENTS": "Geographical requirements",
    "KEYWORD_GOODS_SERVICES_NOT_PERMITTED": "Goods/services not permitted to be offered on the platform",
    "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS": "Grooming/sexual enticement of minors",
    "KEYWORD_HATE_SPEECH": "Illegal incitement to violence and hatred based on protected characteristics (hate speech)",
    "KEYWORD_HIDDEN_ADVERTISEMENT": "Hidden advertisement or commercial communication, including by influencers",
    "KEYWORD_HUMAN_EXPLOITATION": "Human exploitation",
    "KEYWORD_HUMAN_TRAFFICKING": "Human trafficking",
    "KEYWORD_ILLEGAL_ORGANIZATIONS": "Illegal organizations",
    "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING": "Impersonation or account hijacking",
    "KEYWORD_INAUTHENTIC_ACCOUNTS": "Inauthentic accounts",
    "KEYWORD_INAUTHENTIC_LISTINGS": "Inauthentic listings",
    "KEYWORD_INAUTHENTIC_USER_REVIEWS": "Inauthentic user reviews",
    "KEYWORD_INCITEMENT_AGAINST_WOMEN": "Illegal incitement to violence and hatred against women",
    "KEYWORD_INCITEMENT_VIOLENCE_HATRED": "General calls or incitement to violence and/or hatred",
    "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS": "Insufficient information on traders",
    "KEYWORD_LANGUAGE_REQUIREMENTS": "Language requirements",
    "KEYWORD_MISINFORMATION_DISINFORMATION": "Misinformation, disinformation, foreign information manipulation and interference",
    "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS": "Misleading information about the consumer's rights",
    "KEYWORD_MISLEADING_INFO_GOODS_SERVICES": "Misleading information about the characteristics of the goods and services",
    "KEYWORD_MISSING_PROCESSING_GROUND": "Missing processing ground for data",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING": (
        "Non-consensual (intimate) material sharing, including (image-based) sexual abuse (excluding content "
        "depicting minors)"),
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN": (
        "Non-consensual (intimate) material sharing against women, including (image-based) sexual abuse "
        "against women (excluding content depicting minors)"),
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE": (
        "Non-consensual sharing of material containing deepfake or similar technology using a third party's "
        "features (excluding content depicting minors)"),
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN": (
        "Non-consensual sharing of material containing deepfake or similar technology using a third party's "
        "features against women (excluding content depicting minors)"),
    "KEYWORD_NONCOMPLIANCE_PRICING": "Non-compliance with pricing regulations",
    "KEYWORD_NUDITY": "Nudity",
    "KEYWORD_PATENT_INFRINGEMENT": "Patent infringements",
    "KEYWORD_PHISHING": "Phishing",
    "KEYWORD_PROHIBITED_PRODUCTS": "Prohibited or restricted products",
    "KEYWORD_PYRAMID_SCHEMES": "Pyramid schemes",
    "KEYWORD_RIGHT_TO_BE_FORGOTTEN": "Right to be forgotten",
    "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE": "Risk for environmental damage",
    "KEYWORD_RISK_PUBLIC_HEALTH": "Risk for public health",
    "KEYWORD_SELF_MUTILATION": "Self-mutilation",
    "KEYWORD_STALKING": "Stalking",
    "KEYWORD_SUICIDE": "Suicide",
    "KEYWORD_TERRORIST_CONTENT": "Terrorist content",
    "KEYWORD_TRADE_SECRET_INFRINGEMENT": "Trade secret infringements",
    "KEYWORD_TRADEMARK_INFRINGEMENT": "Trademark infringements",
    "KEYWORD_TRAFFICKING_WOMEN_GIRLS": "Trafficking in women and girls",
    "KEYWORD_UNLAWFUL_SALE_ANIMALS": "Unlawful sale of animals",
    "KEYWORD_UNSAFE_CHALLENGES": "Unsafe challenges",
    "KEYWORD_UNSAFE_PRODUCTS": "Unsafe or non-compliant products",
    "KEYWORD_VIOLATION_EU_LAW": "Violation of EU law relevant to civic discourse or elections",
    "KEYWORD_VIOLATION_NATIONAL_LAW": "Violation of national law relevant to civic discourse or elections",
    "KEYWORD_OTHER": "Not captured by any other keyword",
}

SOURCE_TYPE: dict[str, str] = {
    "SOURCE_ARTICLE_16": "Notice submitted in accordance with Article 16 DSA",
    "SOURCE_TRUSTED_FLAGGER": "Notice submitted by a trusted flagger",
    "SOURCE_TYPE_OTHER_NOTIFICATION": "Other type of notification",
    "SOURCE_VOLUNTARY": "Own voluntary initiative",
}

AUTOMATED_DECISION: dict[str, str] = {
    "AUTOMATED_DECISION_FULLY": "Fully automated",
    "AUTOMATED_DECISION_PARTIALLY": "Partially automated",
    "AUTOMATED_DECISION_NOT_AUTOMATED": "Not Automated",
}
# EEA member states, ISO 3166-1 alpha-2 (Greece is GR, not EL).
EEA_COUNTRIES: tuple[str, ...] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
    "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
)

YES_NO: tuple[str, ...] = ("Yes", "No")

VISIBILITY_OTHER = "DECISION_VISIBILITY_OTHER"
MONETARY_OTHER = "DECISION_MONETARY_OTHER"
CONTENT_TYPE_OTHER = "CONTENT_TYPE_OTHER"
GROUND_ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
GROUND_INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
SOURCE_ARTICLE_16 = "SOURCE_ARTICLE_16"
SOURCE_TRUSTED_FLAGGER = "SOURCE_TRUSTED_FLAGGER"
SOURCE_OTHER = "SOURCE_TYPE_OTHER_NOTIFICATION"
SOURCE_VOLUNTARY = "SOURCE_VOLUNTARY"
AUTOMATED_FULLY = "AUTOMATED_DECISION_FULLY"
AUTOMATED_PARTIALLY = "AUTOMATED_DECISION_PARTIALLY"
NOT_AUTOMATED = "AUTOMATED_DECISION_NOT_AUTOMATED"

# Lengths (characters) the schema allows for free-text fields.
MAX_SHORT_TEXT = 500
MAX_EXPLANATION = 2000
MAX_DECISION_FACTS = 5000
MAX_PUID = 500
PUID_PATTERN = r"^[A-Za-z0-9_-]{1,500}$"
CONTENT_DATE_MIN = "2000-01-01"
CONTENT_DATE_MAX = "2038-01-01"
APPLICATION_DATE_MIN = "2020-01-01"
MAX_BATCH = 100

END_DATE_FIELDS: dict[str, str] = {
    "visibility": "end_date_visibility_restriction",
    "account": "end_date_account_restriction",
    "provision": "end_date_service_restriction",
    "monetary": "end_date_monetary_restriction",
}


def choices(enumeration: dict[str, str]) -> list[tuple[str, str]]:
    """(code, label) pairs for forms and model fields."""
    return list(enumeration.items())

"""The default policy book, loaded by a data migration. Admins edit it in the
Django admin. `dsa_category` is the EU DSA statement-of-reasons category
(shared/reference/dsa-statement-of-reasons.md)."""

DEFAULT_POLICIES = [
    ("spam", "Spam", "Unsolicited bulk or repetitive content, scams and platform manipulation.", 2,
     "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"),
    ("harassment", "Harassment and bullying", "Targeted abuse, threats or intimidation of a person.", 3,
     "STATEMENT_CATEGORY_CYBER_VIOLENCE"),
    ("hate", "Hateful conduct", "Attacks on people based on protected characteristics.", 4,
     "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"),
    ("violence", "Violence and violent extremism", "Threats, incitement or glorification of violence.", 4,
     "STATEMENT_CATEGORY_VIOLENCE"),
    ("child_safety", "Child safety", "Sexual exploitation or endangerment of minors.", 5,
     "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"),
    ("self_harm", "Suicide and self-harm", "Promotion or depiction of suicide or self-harm.", 4,
     "STATEMENT_CATEGORY_SELF_HARM"),
    ("illegal_goods", "Illegal goods and services", "Sale or promotion of illegal or regulated goods.", 4,
     "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"),
    ("ip_infringement", "Intellectual property infringement", "Copyright or trademark infringement.", 2,
     "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"),
    ("privacy", "Privacy violation", "Sharing private information or intimate images without consent.", 4,
     "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"),
    ("impersonation", "Impersonation", "Pretending to be another person or organisation.", 3,
     "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"),
    ("misinformation", "Harmful misinformation", "False information likely to cause real-world harm.", 3,
     "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS"),
    ("other", "Other", "Anything the rule book does not name.", 1, "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"),
]

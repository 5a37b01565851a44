"""Lead scoring for score-lead.yaml: a plain function, called by a `code` step."""

FREE_MAIL = {"gmail.com", "yahoo.com", "hotmail.com", "outlook.com"}


def score(lead: dict, hot_at: int = 60) -> dict:
    """A score from 0 to 100 and a grade, with the reasons, for one web-form lead."""
    points = 0
    reasons = []
    user, at, domain = lead["email"].rpartition("@")
    if not at or not user:
        raise ValueError(f"not an e-mail address: {lead['email']!r}")
    domain = domain.lower()
    if domain not in FREE_MAIL:
        points += 30
        reasons.append("company e-mail")
    employees = lead.get("employees") or 0
    if employees >= 200:
        points += 40
        reasons.append("200+ employees")
    elif employees >= 20:
        points += 20
        reasons.append("20+ employees")
    if "demo" in (lead.get("message") or "").lower():
        points += 30
        reasons.append("asked for a demo")
    points = min(points, 100)
    grade = "hot" if points >= hot_at else "warm" if points >= 30 else "cold"
    return {"score": points, "grade": grade, "reasons": reasons}

#!/usr/bin/env python3
"""Derive the demo support-text sample that the Rapport demo seeder embeds.

Usage (from the repository root):

    python3 tools/derive_demo_text.py [DATA_DIR]

DATA_DIR defaults to ../shared/data relative to the repository root (the
directory that contains support_text/bitext and support_text/banking77).

Output (relative to the repository root):

    crates/rapport/demo/support_sample.tsv
    crates/rapport/demo/LICENSES/*        (copies of the upstream licence files)

TSV format
----------
* UTF-8, no BOM, "\n" line endings, one header line:
  source<TAB>category<TAB>intent<TAB>subject<TAB>customer_text<TAB>agent_reply
* No quoting: fields never contain a tab, CR or LF.
* customer_text and subject are single lines (internal whitespace collapsed).
* agent_reply: line breaks are written as the two characters backslash + "n"
  (i.e. the literal text \\n). The seeder must turn each "\\n" back into a
  newline. The source text contains no backslashes, and the script asserts it,
  so no other escaping is needed.
* agent_reply is empty for banking77 rows (that dataset has no responses); the
  seeder supplies a generic reply.
* source is "bitext" or "banking77". For bitext, category/intent are the
  upstream labels. For banking77, intent is the upstream label verbatim and
  category is a coarse group assigned by this script (BANKING77_GROUP below).

Derivation
----------
* Deterministic: fixed SEED, inputs sorted before sampling, no dependence on
  dict/set order or PYTHONHASHSEED. Python 3.11 standard library only.
* Rows are dropped if empty, if tagged offensive ("W") by Bitext, or if either
  text matches PROFANITY.
* Bitext {{Placeholders}} are replaced with concrete demo values (see
  resolve_placeholder); rows whose placeholders are template instructions
  rather than values (e.g. "{{Case 1}}") are not sampled.
* Sampling is spread evenly over intents: BITEXT_TOTAL rows over the 27 bitext
  intents and BANKING77_TOTAL over the 77 banking77 intents (the remainder
  goes to intents chosen by a seeded shuffle).
* subject: a hand-written e-mail-like subject per intent (SUBJECTS), variant
  picked by CRC32 of the customer text.
"""

from __future__ import annotations

import csv
import os
import random
import re
import shutil
import sys
import zlib
from pathlib import Path

SEED = 20240531
BITEXT_TOTAL = 500
BANKING77_TOTAL = 300
MAX_BYTES = 600 * 1024

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "crates" / "rapport" / "demo"
OUT_TSV = OUT_DIR / "support_sample.tsv"
HEADER = ["source", "category", "intent", "subject", "customer_text", "agent_reply"]

BITEXT_CSV = Path("support_text/bitext/Bitext_Sample_Customer_Support_Training_Dataset.csv")
BANKING77_CSVS = [Path("support_text/banking77/train.csv"), Path("support_text/banking77/test.csv")]
LICENCE_FILES = {
    Path("support_text/bitext/LICENSE.txt"): "CDLA-Sharing-1.0-bitext.txt",
    Path("support_text/banking77/LICENSE"): "CC-BY-4.0-banking77.txt",
}

PROFANITY = re.compile(
    r"fuck|shit|goddamn|\bdamn|\bbloody\b|\bbitch|\bcrap(?:py)?\b|\bhell\b|\bass\b|asshole|"
    r"bastard|\bpiss|\bdick\b|\bwtf\b|\bsucks?\b",
    re.IGNORECASE,
)

# --------------------------------------------------------------------------
# Subjects: intent -> 2-4 short e-mail subject lines a customer would write.
# --------------------------------------------------------------------------
SUBJECTS: dict[str, list[str]] = {
    # bitext
    "cancel_order": ["Cancel my order", "Please cancel my order", "Order cancellation request"],
    "change_order": ["Change to my order", "Need to modify my order", "Update items in my order"],
    "place_order": ["Placing a new order", "How do I order?", "Help with buying an item"],
    "track_order": ["Where is my order?", "Order status", "Tracking my order"],
    "create_account": ["Creating an account", "Sign up help", "Open a new account"],
    "delete_account": ["Close my account", "Delete my account", "Account deletion request"],
    "edit_account": ["Update my account details", "Change my profile", "Edit account information"],
    "recover_password": ["Forgot my password", "Password reset", "Can't log in - password"],
    "registration_problems": ["Problem signing up", "Registration not working", "Can't register"],
    "switch_account": ["Switch my account type", "Change to another account", "Account upgrade question"],
    "check_cancellation_fee": ["Cancellation fee?", "Early termination fee question", "What does it cost to cancel?"],
    "contact_customer_service": ["Contacting customer service", "How can I reach support?", "Support opening hours"],
    "contact_human_agent": ["I want to talk to a person", "Speak to a human agent", "Request a call back"],
    "delivery_options": ["Delivery options", "Shipping methods", "Do you ship to my area?"],
    "delivery_period": ["When will my parcel arrive?", "Delivery time", "Expected delivery date"],
    "complaint": ["Complaint", "I want to file a complaint", "Unhappy with your service"],
    "review": ["Feedback on your service", "Leaving a review", "Some feedback"],
    "check_invoice": ["Question about my invoice", "Where can I see my bill?", "Checking an invoice"],
    "get_invoice": ["Invoice request", "Please send my invoice", "Need a copy of my bill"],
    "newsletter_subscription": ["Newsletter subscription", "Unsubscribe from newsletter", "Sign me up for the newsletter"],
    "check_payment_methods": ["Payment methods", "Which payment options do you accept?", "Can I pay by card?"],
    "payment_issue": ["Payment problem", "My payment failed", "Issue with a payment"],
    "check_refund_policy": ["Refund policy", "Question about a refund", "Am I eligible for a refund?"],
    "get_refund": ["Refund request", "I want my money back", "Requesting a refund"],
    "track_refund": ["Status of my refund", "Refund not received yet", "Where is my refund?"],
    "change_shipping_address": ["Change my shipping address", "Wrong delivery address", "Update delivery address"],
    "set_up_shipping_address": ["Add a shipping address", "Setting up a delivery address", "New shipping address"],
    # banking77
    "activate_my_card": ["Activating my card", "How do I activate my card?", "Card activation"],
    "age_limit": ["Age requirement", "Minimum age for an account", "Can my child open an account?"],
    "apple_pay_or_google_pay": ["Apple Pay / Google Pay", "Adding my card to my phone", "Mobile wallet support"],
    "atm_support": ["Which ATMs can I use?", "ATM question", "Using my card at an ATM"],
    "automatic_top_up": ["Auto top-up", "Automatic top-up settings", "Setting up automatic top-ups"],
    "balance_not_updated_after_bank_transfer": ["Balance not updated after transfer", "Transfer not showing in balance", "Bank transfer missing"],
    "balance_not_updated_after_cheque_or_cash_deposit": ["Deposit not showing", "Cash deposit missing from balance", "Cheque deposit not credited"],
    "beneficiary_not_allowed": ["Can't add beneficiary", "Beneficiary not allowed", "Problem adding a payee"],
    "cancel_transfer": ["Cancel a transfer", "Stop my payment", "Reverse a transfer I made"],
    "card_about_to_expire": ["Card expiring soon", "Replacement for expiring card", "New card before expiry"],
    "card_acceptance": ["Where is my card accepted?", "Card acceptance", "Can I use my card abroad?"],
    "card_arrival": ["Card hasn't arrived", "Still waiting for my card", "Where is my card?"],
    "card_delivery_estimate": ["Card delivery time", "How long until my card arrives?", "Card delivery estimate"],
    "card_linking": ["Linking my card", "Add my card to the app", "Card linking problem"],
    "card_not_working": ["Card not working", "My card is declined everywhere", "Problem with my card"],
    "card_payment_fee_charged": ["Fee on card payment", "Unexpected card payment fee", "Why was I charged a fee?"],
    "card_payment_not_recognised": ["Card payment I don't recognise", "Unknown card transaction", "Suspicious payment"],
    "card_payment_wrong_exchange_rate": ["Wrong exchange rate on card payment", "Exchange rate looks wrong", "Card payment rate question"],
    "card_swallowed": ["ATM kept my card", "Card swallowed by ATM", "Card retained by cash machine"],
    "cash_withdrawal_charge": ["Fee for cash withdrawal", "ATM withdrawal charge", "Charged for taking out cash"],
    "cash_withdrawal_not_recognised": ["Cash withdrawal I didn't make", "Unknown ATM withdrawal", "Withdrawal not recognised"],
    "change_pin": ["Change my PIN", "How to change PIN", "PIN change"],
    "compromised_card": ["Card compromised", "I think my card was hacked", "Fraud on my card"],
    "contactless_not_working": ["Contactless not working", "Tap to pay fails", "Contactless payments declined"],
    "country_support": ["Supported countries", "Can I use the service in my country?", "Country availability"],
    "declined_card_payment": ["Card payment declined", "Why was my payment declined?", "Declined at checkout"],
    "declined_cash_withdrawal": ["Cash withdrawal declined", "ATM declined my card", "Couldn't withdraw cash"],
    "declined_transfer": ["Transfer declined", "My transfer was rejected", "Transfer not going through"],
    "direct_debit_payment_not_recognised": ["Unknown direct debit", "Direct debit I don't recognise", "Direct debit question"],
    "disposable_card_limits": ["Disposable card limits", "How many disposable cards?", "Limits on virtual cards"],
    "edit_personal_details": ["Update my personal details", "Change my address", "Edit my name or details"],
    "exchange_charge": ["Currency exchange fee", "Charges for exchanging money", "Exchange fee question"],
    "exchange_rate": ["Exchange rates", "What rate do you use?", "Question about exchange rates"],
    "exchange_via_app": ["Exchanging currency in the app", "How to exchange currencies", "Currency exchange"],
    "extra_charge_on_statement": ["Extra charge on my statement", "Unexpected charge", "Odd fee on my statement"],
    "failed_transfer": ["Transfer failed", "My transfer didn't go through", "Failed payment to a friend"],
    "fiat_currency_support": ["Supported currencies", "Which currencies can I hold?", "Currency support"],
    "get_disposable_virtual_card": ["Disposable virtual card", "How do I get a disposable card?", "One-time card"],
    "get_physical_card": ["Getting a physical card", "Need a plastic card", "Physical card request"],
    "getting_spare_card": ["Extra card", "Can I get a second card?", "Spare card request"],
    "getting_virtual_card": ["Virtual card", "How to get a virtual card", "Virtual card request"],
    "lost_or_stolen_card": ["Lost card", "My card was stolen", "Block my card please"],
    "lost_or_stolen_phone": ["Lost my phone", "Phone stolen - secure my account", "Lost phone with app"],
    "order_physical_card": ["Order a card", "Ordering a new card", "Card order"],
    "passcode_forgotten": ["Forgot my passcode", "Passcode reset", "Locked out - passcode"],
    "pending_card_payment": ["Card payment pending", "Payment still pending", "Pending transaction"],
    "pending_cash_withdrawal": ["Cash withdrawal pending", "ATM withdrawal still pending", "Pending withdrawal"],
    "pending_top_up": ["Top-up pending", "Top-up still pending", "Waiting for my top-up"],
    "pending_transfer": ["Transfer pending", "Transfer still processing", "Pending transfer"],
    "pin_blocked": ["PIN blocked", "Card blocked after wrong PIN", "Unblock my PIN"],
    "receiving_money": ["Receiving money", "How can people pay me?", "Getting paid into my account"],
    "Refund_not_showing_up": ["Refund not showing", "Merchant refund missing", "Where is my refund?"],
    "request_refund": ["Refund for a purchase", "Request a refund", "Getting money back from a merchant"],
    "reverted_card_payment?": ["Card payment reverted", "Payment was reversed", "Reverted transaction"],
    "supported_cards_and_currencies": ["Supported cards", "Which cards and currencies?", "Card and currency support"],
    "terminate_account": ["Close my account", "Account closure", "Delete my account"],
    "top_up_by_bank_transfer_charge": ["Fee for bank transfer top-up", "Top-up by bank transfer charge", "Bank top-up fee"],
    "top_up_by_card_charge": ["Fee for card top-up", "Card top-up charge", "Top-up fee question"],
    "top_up_by_cash_or_cheque": ["Top up with cash or cheque", "Depositing cash", "Cheque top-up"],
    "top_up_failed": ["Top-up failed", "Couldn't top up", "Top-up error"],
    "top_up_limits": ["Top-up limits", "Maximum top-up", "How much can I top up?"],
    "top_up_reverted": ["Top-up reverted", "Top-up reversed", "My top-up disappeared"],
    "topping_up_by_card": ["Topping up by card", "Add money with my card", "Card top-up"],
    "transaction_charged_twice": ["Charged twice", "Duplicate transaction", "Double charge on my account"],
    "transfer_fee_charged": ["Fee on my transfer", "Transfer fee charged", "Why a transfer fee?"],
    "transfer_into_account": ["Transferring money in", "How to fund my account", "Adding money by transfer"],
    "transfer_not_received_by_recipient": ["Transfer not received", "Recipient didn't get the money", "Missing transfer"],
    "transfer_timing": ["How long do transfers take?", "Transfer timing", "When will my transfer arrive?"],
    "unable_to_verify_identity": ["Can't verify my identity", "Identity verification failing", "Verification problem"],
    "verify_my_identity": ["Verifying my identity", "Identity verification", "How do I verify my ID?"],
    "verify_source_of_funds": ["Source of funds", "Proof of funds request", "Verifying where my money comes from"],
    "verify_top_up": ["Verify top-up", "Top-up verification code", "Confirming my top-up"],
    "virtual_card_not_working": ["Virtual card not working", "Virtual card declined", "Problem with virtual card"],
    "visa_or_mastercard": ["Visa or Mastercard?", "Card network question", "Which card do you issue?"],
    "why_verify_identity": ["Why verify my identity?", "Why do you need my ID?", "Verification question"],
    "wrong_amount_of_cash_received": ["Wrong amount of cash from ATM", "ATM gave me less cash", "Cash amount wrong"],
    "wrong_exchange_rate_for_cash_withdrawal": ["Wrong rate on cash withdrawal", "ATM exchange rate wrong", "Withdrawal exchange rate"],
}

# banking77 has no categories; this coarse grouping is ours.
BANKING77_GROUP_LISTS = {
    "CARD": [
        "activate_my_card", "apple_pay_or_google_pay", "card_about_to_expire", "card_acceptance",
        "card_arrival", "card_delivery_estimate", "card_linking", "card_not_working", "change_pin",
        "compromised_card", "contactless_not_working", "disposable_card_limits",
        "get_disposable_virtual_card", "get_physical_card", "getting_spare_card",
        "getting_virtual_card", "lost_or_stolen_card", "order_physical_card", "pin_blocked",
        "supported_cards_and_currencies", "virtual_card_not_working", "visa_or_mastercard",
    ],
    "CARD_PAYMENT": [
        "card_payment_fee_charged", "card_payment_not_recognised",
        "card_payment_wrong_exchange_rate", "declined_card_payment",
        "direct_debit_payment_not_recognised", "extra_charge_on_statement", "pending_card_payment",
        "Refund_not_showing_up", "request_refund", "reverted_card_payment?",
        "transaction_charged_twice",
    ],
    "CASH_WITHDRAWAL": [
        "atm_support", "card_swallowed", "cash_withdrawal_charge", "cash_withdrawal_not_recognised",
        "declined_cash_withdrawal", "pending_cash_withdrawal", "wrong_amount_of_cash_received",
        "wrong_exchange_rate_for_cash_withdrawal",
    ],
    "TRANSFER": [
        "balance_not_updated_after_bank_transfer", "beneficiary_not_allowed", "cancel_transfer",
        "declined_transfer", "failed_transfer", "pending_transfer", "receiving_money",
        "transfer_fee_charged", "transfer_into_account", "transfer_not_received_by_recipient",
        "transfer_timing",
    ],
    "TOP_UP": [
        "automatic_top_up", "balance_not_updated_after_cheque_or_cash_deposit", "pending_top_up",
        "top_up_by_bank_transfer_charge", "top_up_by_card_charge", "top_up_by_cash_or_cheque",
        "top_up_failed", "top_up_limits", "top_up_reverted", "topping_up_by_card", "verify_top_up",
    ],
    "EXCHANGE": ["exchange_charge", "exchange_rate", "exchange_via_app", "fiat_currency_support"],
    "ACCOUNT": [
        "age_limit", "country_support", "edit_personal_details", "lost_or_stolen_phone",
        "passcode_forgotten", "terminate_account",
    ],
    "VERIFICATION": [
        "unable_to_verify_identity", "verify_my_identity", "verify_source_of_funds",
        "why_verify_identity",
    ],
}
BANKING77_GROUP = {i: g for g, lst in BANKING77_GROUP_LISTS.items() for i in lst}

# --------------------------------------------------------------------------
# Bitext placeholders
# --------------------------------------------------------------------------
PHONE = "+1 555 0100"
EMAIL = "support@shop.demo.test"
URL = "https://shop.demo.test"
SHOP = "Demo Shop"
HOURS = "Monday to Friday, 8:00 to 18:00"
NAMES = ["Alex Morgan", "Sam Patel", "Maria Lopez", "Jordan Lee", "Chris Novak", "Emma Schmidt"]

# Keys are lower-cased placeholder texts.
VALUES = {
    # contact details
    "customer support phone number": PHONE,
    "customer support phone number anonymized": PHONE,
    "customer service phone number": PHONE,
    "customer assistance phone number": PHONE,
    "support phone number": PHONE,
    "complaint phone number": PHONE,
    "phone number": PHONE,
    "customer support contact information": PHONE,
    "customer support email": EMAIL,
    "customer support email address": EMAIL,
    "customer service email": EMAIL,
    "customer service email address": EMAIL,
    "support email": EMAIL,
    "support email address": EMAIL,
    "email address": EMAIL,
    "complaint email address": "complaints@shop.demo.test",
    "feedback email address": "feedback@shop.demo.test",
    "customer support email or phone number": f"{EMAIL} or {PHONE}",
    "live chat": "Live Chat",
    "live chat anonymized": "Live Chat",
    "customer support channel": "Live Chat",
    "support channel": "Live Chat",
    # hours
    "customer support availability": HOURS,
    "customer support availability anonymized": HOURS,
    "support team availability": HOURS,
    "customer support hours": HOURS,
    "customer service hours": HOURS,
    "customer assistance hours": HOURS,
    "operating hours": HOURS,
    "business hours start time": "8:00",
    "business hours end time": "18:00",
    "customer service start time": "8:00",
    "customer service end time": "18:00",
    "operating hours weekdays": "8:00 to 18:00",
    "operating hours weekends": "9:00 to 13:00",
    "operating hours holidays": "closed",
    # site / company
    "website name": SHOP,
    "website name anonymized": SHOP,
    "website/app name": SHOP,
    "company name": SHOP,
    "mobile app name": f"{SHOP} app",
    "website": "website",
    "website or app": "website or app",
    "website url": URL,
    "company website": URL,
    "service website": URL,
    # misc values
    "order number": "order number",
    "tracking number": "tracking number",
    "purchase date anonymized": "12 March 2024",
    "payment method anonymized": "Visa card ending in 4242",
    "number of days": "30",
    "refund period": "30",
    "percentage or full": "Full",
    "percentage": "50%",
    "refund processing time": "5 to 7 business days",
    "refund processing time frame": "5 to 7 business days",
    "refund timeframe": "30 days",
    "response time": "2 business days",
    "processing time": "5 to 7 business days",
    "business hours": HOURS,
    # square-bracket placeholders found upstream ("[X] days", "[start time]", ...)
    "x": "30",
    "x to y": "5 to 7",
    "start time": "8:00",
    "end time": "18:00",
    "days of the week": "Monday to Friday",
    "email protected": EMAIL,
    "review website 1": "Trustpilot",
    "review website 2": "Google Reviews",
    "review website 3": "our product pages",
}
ORDER_PLACEHOLDERS = {
    "purchase id anonymized", "order id anonymized", "order number anonymized",
    "purchase number anonymized",
}
INVOICE_PLACEHOLDERS = {"bill number anonymized", "invoice number anonymized"}
NAME_PLACEHOLDERS = {"name field anonymized"}
# Template instructions rather than values: rows using them are not sampled.
UNUSABLE = {
    "case 1", "case 2", "case 3", "situation 1", "situation 2", "situation 3",
    "refund policy details", "conditions for refund", "list of eligible situations for refunds",
    "refundable situations", "claim details", "complaint details",
}
# Lower-case placeholders that read fine as plain text.
LOWERCASE_LABELS = {"billing section", "view or check invoice", "refund policy"}

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
# Some responses use [Square Bracket] placeholders instead; they are turned into
# {{...}} first ("[{{Website Name}}]" included). Every [..] upstream is one.
BRACKETED = re.compile(r"\[(?:\{\{)?([^\[\]\n{}]{1,80}?)(?:\}\})?\]")
PHONE_MASK = re.compile(r"XXX-XXX-XXXX")
# Order numbers used upstream. Some replies quote a different one than the
# customer typed (e.g. "cancel order 3707955617" -> "order 370795561790");
# in order_id rows every such number in the reply is replaced by the customer's.
UPSTREAM_ORDER_NUMBERS = sorted(
    ["113542617735902", "00004587345", "4587345", "00123842", "123842", "3707955617",
     "370795561790", "732201349959"], key=len, reverse=True)
# Site placeholders that read better with a word depending on what precedes them.
_SITE = r"\{\{(?:Website Name|Website Name Anonymized|website)\}\}"
_URLS = r"\{\{(?:Website URL|Company Website|Service Website)\}\}"
CONTEXTUAL = [
    (re.compile(r"(\bwebsite(?: at|,) )" + _SITE), r"\g<1>" + URL),
    (re.compile(r"(\bour )" + _SITE), r"\g<1>" + SHOP + " website"),
    (re.compile(r"(\bour )" + _URLS), r"\g<1>website at " + URL),
]
ORDER_NUMBER = re.compile(r"(?<!\d)(?:" + "|".join(UPSTREAM_ORDER_NUMBERS) + r")(?!\d)")


class Unusable(Exception):
    pass


def crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def resolve_placeholder(key: str, row: dict) -> str:
    k = key.strip().lower()
    etype = row["entity_type"]
    entity = row["entity_raw"]
    if k in UNUSABLE:
        raise Unusable(key)
    if k in ORDER_PLACEHOLDERS or re.fullmatch(r"[0-9a-f]{8,}", k):
        if etype == "order_id" and entity:
            return entity
        return str(40000 + crc("order:" + row["instruction"]) % 60000)
    if k in INVOICE_PLACEHOLDERS:
        if etype == "invoice_id" and entity:
            return entity
        return "INV-" + str(10000 + crc("invoice:" + row["instruction"]) % 90000)
    if k in NAME_PLACEHOLDERS:
        if etype == "person_name" and entity:
            return entity
        return NAMES[crc("name:" + row["instruction"]) % len(NAMES)]
    if key == "Refund Processing Time":
        return "5 to 7"  # upstream: "within {{Refund Processing Time}} business days"
    if k in VALUES:
        return VALUES[k]
    # Anything else is a UI label ("Order History", "Cancel Order", ...): keep
    # the label text. Lower-case phrases are instructions to a writer, not labels.
    if not key[:1].isupper() and not key.startswith('"'):
        if k in LOWERCASE_LABELS:
            return key
        raise Unusable(key)
    return key


def fill(text: str, row: dict) -> str:
    text = BRACKETED.sub(lambda m: "{{" + m.group(1) + "}}", text)
    text = PHONE_MASK.sub(PHONE, text)
    for pattern, repl in CONTEXTUAL:
        text = pattern.sub(repl, text)
    if row["entity_type"] == "order_id" and row["entity_raw"]:
        text = ORDER_NUMBER.sub(row["entity_raw"], text)
    return PLACEHOLDER.sub(lambda m: resolve_placeholder(m.group(1), row), text)


# --------------------------------------------------------------------------
def one_line(text: str) -> str:
    return " ".join(text.split())


def reply_field(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = "\n".join(lines).strip("\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.replace("\n", "\\n")


def quotas(intents: list[str], total: int, salt: str) -> dict[str, int]:
    base, extra = divmod(total, len(intents))
    order = sorted(intents)
    random.Random(f"{SEED}:{salt}:quota").shuffle(order)
    return {i: base + (1 if n < extra else 0) for n, i in enumerate(order)}


def sample(groups: dict[str, list[dict]], total: int, salt: str) -> list[dict]:
    q = quotas(list(groups), total, salt)
    out = []
    for intent in sorted(groups):
        cands = sorted(groups[intent], key=lambda r: (r["customer_text"], r["agent_reply"]))
        rng = random.Random(f"{SEED}:{salt}:{intent}")
        rng.shuffle(cands)
        if len(cands) < q[intent]:
            raise SystemExit(f"{salt}/{intent}: only {len(cands)} usable rows")
        out.extend(cands[: q[intent]])
    return out


def subject_for(intent: str, text: str) -> str:
    variants = SUBJECTS[intent]
    return variants[crc(text) % len(variants)]


def load_bitext(data: Path, stats: dict) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    seen = set()
    with open(data / BITEXT_CSV, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            instr, resp = row["instruction"], row["response"]
            assert "\\" not in instr + resp, "backslash in source text"
            if not instr.strip() or not resp.strip():
                stats["bitext_empty"] += 1
                continue
            if "W" in row["tags"] or PROFANITY.search(instr) or PROFANITY.search(resp):
                stats["bitext_profanity"] += 1
                continue
            # the entity exactly as the customer typed it (e.g. "00004587345")
            raw = ""
            try:
                s, e = int(row["start_offset"]), int(row["end_offset"])
                raw = instr[s:e]
            except ValueError:
                pass
            raw = raw.strip(" ,.?!")
            row["entity_raw"] = raw if raw else row["entity_value"]
            try:
                reply = fill(resp, row)
                text = PLACEHOLDER.sub(lambda m: resolve_placeholder(m.group(1), row), instr)
            except Unusable:
                stats["bitext_template_placeholder"] += 1
                continue
            text = one_line(text)
            key = (row["intent"], text.lower())
            if key in seen:
                stats["bitext_duplicate"] += 1
                continue
            seen.add(key)
            groups.setdefault(row["intent"], []).append({
                "source": "bitext",
                "category": row["category"],
                "intent": row["intent"],
                "customer_text": text,
                "agent_reply": reply_field(reply),
            })
    return groups


def load_banking77(data: Path, stats: dict) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    seen = set()
    for rel in BANKING77_CSVS:
        with open(data / rel, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                text = one_line(row["text"])
                assert "\\" not in text
                if not text:
                    stats["banking77_empty"] += 1
                    continue
                if PROFANITY.search(text):
                    stats["banking77_profanity"] += 1
                    continue
                intent = row["category"]
                if text.lower() in seen:
                    stats["banking77_duplicate"] += 1
                    continue
                seen.add(text.lower())
                groups.setdefault(intent, []).append({
                    "source": "banking77",
                    "category": BANKING77_GROUP[intent],
                    "intent": intent,
                    "customer_text": text,
                    "agent_reply": "",
                })
    return groups


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT.parent / "shared" / "data"
    data = data.resolve()
    stats = {k: 0 for k in (
        "bitext_empty", "bitext_profanity", "bitext_template_placeholder", "bitext_duplicate",
        "banking77_empty", "banking77_profanity", "banking77_duplicate")}

    bitext = load_bitext(data, stats)
    banking = load_banking77(data, stats)
    assert set(BANKING77_GROUP) == set(banking), "banking77 intents changed"
    missing = (set(bitext) | set(banking)) - set(SUBJECTS)
    assert not missing, f"no subjects for {sorted(missing)}"

    rows = sample(bitext, BITEXT_TOTAL, "bitext") + sample(banking, BANKING77_TOTAL, "banking77")
    for r in rows:
        r["subject"] = subject_for(r["intent"], r["customer_text"])

    lines = ["\t".join(HEADER)]
    for r in rows:
        fields = [r[h] for h in HEADER]
        for v in fields:
            assert "\t" not in v and "\n" not in v and "\r" not in v
            assert "{{" not in v and "}}" not in v and not BRACKETED.search(v)
        lines.append("\t".join(fields))
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    assert len(payload) < MAX_BYTES, f"sample too large: {len(payload)} bytes"

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    OUT_TSV.write_bytes(payload)
    lic_dir = OUT_DIR / "LICENSES"
    lic_dir.mkdir(exist_ok=True)
    for src, name in LICENCE_FILES.items():
        shutil.copyfile(data / src, lic_dir / name)

    print(f"wrote {OUT_TSV.relative_to(REPO_ROOT)}: {len(rows)} rows, {len(payload)} bytes")
    for k, v in stats.items():
        print(f"  dropped {k}: {v}")


if __name__ == "__main__":
    main()

"""Every stable error code the API can answer with, its HTTP status and its meaning.

The OpenAPI document is built from this table, and a test checks that every code raised in
the codebase is listed here with the status its error kind maps to.
"""

from __future__ import annotations

ERROR_CODES: dict[str, tuple[int, str]] = {
    # The HTTP layer
    "request.malformed": (400, "The request could not be read (e.g. malformed JSON)."),
    "request.route_not_found": (404, "No such endpoint."),
    "request.method_not_allowed": (405, "The endpoint does not take this HTTP method."),
    "request.too_large": (413, "The request body is larger than the server accepts."),
    "request.unsupported_media_type": (415, "The body must be JSON (Content-Type: application/json)."),
    "request.invalid": (422, "Fields are missing, of the wrong type, or unknown; details.fields names each."),
    "request.conflict": (409, "Someone changed the same thing at the same moment; reload and try again."),
    "request.invalid_idempotency_key": (422, "An Idempotency-Key is 1 to 64 of A-Z, a-z, 0-9, '_', '.', ':' and '-'."),
    "request.idempotency_key_reused": (409, "This Idempotency-Key was used with another request; use a new key."),
    "request.idempotency_in_progress": (
        409,
        "The first request with this Idempotency-Key is still running; retry soon.",
    ),
    "database.busy": (503, "The database is too busy to take this change now; Retry-After says when to retry."),
    "request.uri_too_long": (414, "The request line is longer than the server reads."),
    "request.headers_too_large": (431, "The request has too many headers, or one longer than the server reads."),
    "request.expectation_failed": (417, "The server does not meet the request's Expect header."),
    "request.unsupported_transfer_coding": (501, "The body's Transfer-Encoding is not one the server reads."),
    "request.forbidden": (403, "The server refuses connections of this kind."),
    "internal_error": (500, "Something failed on our side; details.request_id identifies it in our logs."),
    # Authentication and roles
    "auth.required": (401, "No bearer token was sent."),
    "auth.invalid_token": (401, "The token is unknown, tampered with or revoked."),
    "auth.token_expired": (401, "The token has expired; log in again."),
    "auth.invalid_credentials": (401, "Wrong username or password."),
    "auth.locked": (429, "Too many failed logins as this username from your address; Retry-After says when."),
    "auth.too_many_attempts": (429, "Too many failed logins from your address; Retry-After says when to try again."),
    "limits.unavailable": (503, "Attempt limits cannot be checked right now; Retry-After says when to retry."),
    "auth.forbidden": (403, "Your role may not do this."),
    "auth.city_out_of_scope": (403, "You do not operate this city."),
    "auth.channel_out_of_scope": (403, "You do not administer this channel."),
    # Catalogue
    "catalogue.city_not_found": (404, "citytiles does not serve this city."),
    "catalogue.offering_not_found": (404, "The city has no such service on that channel."),
    "catalogue.connection_not_found": (404, "The city has no upstream connection for that service."),
    "catalogue.unknown_channel": (422, "The channel is neither wechat nor alipay."),
    "catalogue.unknown_upstream": (422, "The service has no upstream adapter by that name."),
    "catalogue.invalid_upstream_params": (
        422,
        "The parameters do not fit the adapter (unknown, missing, mistyped, out of bounds); details.fields names each.",
    ),
    "figures.invalid_period": (422, "The period's first day comes after its last, or it spans more than 92 days."),
    "catalogue.invalid_hours": (422, "Opening hours are not valid."),
    "catalogue.invalid_maintenance_window": (422, "A maintenance window is not valid."),
    "catalogue.too_many_windows": (422, "Too many maintenance windows on one offering."),
    "catalogue.reason_required": (422, "Every catalogue change needs a reason."),
    "catalogue.unsafe_upstream": (
        422,
        "Production refuses the fake adapter, non-public or plain-HTTP URLs and absent secrets; details.problems says.",
    ),
    "catalogue.upstream_params_required": (422, "Changing the upstream adapter needs its parameters too."),
    "catalogue.seed_unreadable": (422, "The seed file cannot be read."),
    "catalogue.invalid_city_code": (422, "A city code is not a 6-digit division code."),
    "catalogue.invalid_seed": (422, "The seed file has an entry that is not valid."),
    # Resident sessions and identity
    "session.unknown_app": (422, "The app id is not an app of that channel that citytiles serves."),
    "session.code_invalid": (401, "The login code is invalid or has expired; get a new one from the channel."),
    "session.code_used": (401, "The login code has already been used; get a new one from the channel."),
    "channel.rate_limited": (429, "The channel is limiting requests for this user; Retry-After says when to retry."),
    "channel.unavailable": (503, "The channel cannot be reached; Retry-After says when to retry."),
    # City upstream systems, through outbound/
    "notices.unknown_template": (422, "This app sends no notice by that name; details.offered lists the ones it does."),
    "notices.channel_unavailable": (503, "The resident's channel cannot take a notice now; it is tried again later."),
    "service.not_offered": (409, "The service is not offered in this city on your channel; details.message says so."),
    "service.off_hours": (409, "The service is closed now; details.available_again_at says when it opens."),
    "service.maintenance": (503, "The service is under maintenance; Retry-After says when it is expected back."),
    "upstream.unavailable": (503, "The city's system cannot be reached; Retry-After says when to retry."),
    "upstream.busy": (503, "Too many requests to the city's system are in flight; retry in a moment."),
    # Housing fund
    "housing_fund.real_name_required": (403, "Verify your real name first: the fund centre looks you up by it."),
    "housing_fund.account_not_found": (404, "The city's fund centre has no provident fund account for you."),
    "housing_fund.name_mismatch": (422, "The fund centre registered a different name for your ID number."),
    "housing_fund.account_closed": (409, "Your provident fund account is closed; the centre shows no details."),
    "housing_fund.invalid_cursor": (422, "The records cursor is not one the centre gave; start from the first page."),
    # Outpatient appointments
    "car_move.system_changed": (
        409,
        "The city now works with another police system than the one handling the request.",
    ),
    "outpatient.system_changed": (
        409,
        "The city now books through another hospital system than the one holding this appointment.",
    ),
    "outpatient.hospital_not_found": (404, "The city's hospital platform knows no such hospital."),
    "outpatient.department_not_found": (404, "The hospital has no such department."),
    "outpatient.slot_not_found": (404, "The department has no such slot."),
    "outpatient.hold_not_found": (404, "The hospital platform no longer knows this appointment."),
    "outpatient.appointment_not_found": (404, "You have no appointment with this id."),
    "outpatient.slot_unavailable": (409, "The slot has no place left or has started; pick another."),
    "outpatient.duplicate_appointment": (409, "The hospital already has you in this department that day."),
    "outpatient.hold_expired": (409, "The hold expired and its place was given back."),
    "outpatient.hold_cancelled": (409, "The appointment was cancelled."),
    "outpatient.patient_refused": (422, "The hospital refused the patient details registered with your real name."),
    "outpatient.real_name_required": (
        403,
        "Holding a slot needs a verified real name: hospitals register by ID number.",
    ),
    "outpatient.date_out_of_range": (422, "Schedules cover today and the six days after (Beijing time)."),
    "outpatient.one_per_department_per_day": (409, "One live appointment per department per day."),
    "outpatient.weekly_limit_reached": (
        429,
        "You reached the number of appointments allowed in seven days; Retry-After says when one more is allowed.",
    ),
    "identity.invalid_name": (422, "The name is not a name as on an ID card."),
    "identity.invalid_id_number": (422, "The ID number's format, birth date or check digit is wrong."),
    "identity.unknown_consent_purpose": (404, "No consent text exists for that purpose."),
    "identity.unknown_consent_version": (422, "The consent text version is not one we published."),
    "identity.real_name_mismatch": (422, "The name and ID number do not match the channel's verified identity."),
    "identity.real_name_unavailable": (422, "The channel holds no verified identity for this user."),
    "identity.real_name_already_bound": (409, "A different real name is already bound to this resident."),
    "identity.no_channel_identity": (422, "The session did not come through a channel app."),
    "identity.phone_not_supported": (422, "Phone binding is not offered through this app."),
    "identity.resident_changed": (409, "The account was erased or joined with another meanwhile; log in again."),
    "identity.real_name_not_offered": (422, "Real-name verification is not offered through this channel yet."),
    "identity.channel_login_expired": (401, "The channel authorisation from login has lapsed; log in again."),
    "identity.phone_code_invalid": (422, "The phone authorisation code is not valid."),
    "identity.too_many_attempts": (
        429,
        "Today's real-name or phone attempts for this account are used up; Retry-After says when to try again.",
    ),
    "session.too_many_attempts": (429, "Too many failed logins from your address; Retry-After says when to try again."),
    # Car move
    "car_move.invalid_plate": (422, "Not a plate: province abbreviation, office letter, 5 (new-energy: 6) characters."),
    "car_move.monthly_quota_exceeded": (
        429,
        "This month's car-move requests (5 unless the city says otherwise) are used; Retry-After says when.",
    ),
    "car_move.plate_cooling_down": (
        429,
        "This car's driver was asked a moment ago; Retry-After says when to ask again.",
    ),
    "car_move.nudge_too_early": (
        429,
        "A reminder waits ten minutes after the request or the last one; see Retry-After.",
    ),
    "car_move.owner_complained": (403, "The car's owner complained about an earlier request of yours, for 30 days."),
    "car_move.request_not_found": (404, "No such car-move request of yours."),
    "car_move.request_finished": (409, "The request is finished (moved, cancelled, answered or unreachable)."),
    "car_move.already_answered": (409, "The owner has answered this request already."),
    "car_move.vehicle_not_found": (404, "The traffic police have no vehicle with this plate."),
    "car_move.ticket_not_found": (404, "The traffic police have no such car-move ticket."),
    "car_move.ticket_finished": (409, "The traffic police ticket is finished and cannot be cancelled."),
    "car_move.police_monthly_limit": (409, "The traffic police allow no more requests from you this month."),
    "car_move.plate_refused": (422, "The traffic police do not take this plate."),
    "car_move.real_name_required": (403, "Verify your real name before registering a vehicle."),
    "car_move.ownership_unverifiable": (
        409,
        "This city's traffic police reach owners themselves and cannot confirm ownership; no registration needed.",
    ),
    "car_move.not_the_owner": (403, "The traffic police do not have you as this vehicle's owner."),
    "car_move.too_many_vehicles": (409, "A resident can register at most 5 vehicles."),
    # Staff accounts
    "staff.username_taken": (409, "That username is taken."),
    "staff.unknown_role": (422, "Unknown role."),
    "staff.weak_password": (
        422,
        "The password needs 12 characters besides outer spaces, 6 different ones, and no control characters.",
    ),
    "staff.scope_required": (422, "City operators need cities; channel admins need channels."),
    "staff.scope_not_allowed": (422, "This role is not scoped to cities or channels."),
    "staff.invalid_scope": (422, "Cities and channels are listed once each, well-formed, and at most 50 cities."),
    "staff.unknown_city": (422, "A city in the scope is not one citytiles serves."),
    "staff.invalid_username": (422, "A username is 3 to 64 of a-z, 0-9, '.', '_' and '-'."),
    "staff.invalid_display_name": (422, "A display name is one line of text, not blank."),
    "staff.reason_required": (422, "Creating, disabling or unlocking a staff account needs a reason."),
    "staff.not_found": (404, "No staff member has that username."),
    "staff.cannot_disable_self": (409, "A platform admin cannot disable their own account."),
    "audit.reason_required": (422, "Every staff change needs a reason: one line of text, not blank."),
    # Payments and refunds
    "outpatient.past_cancel_cutoff": (409, "Too late to cancel here; details.cancel_until says until when one could."),
    "outpatient.nothing_to_pay": (409, "This appointment has no fee waiting to be paid."),
    "billing.reason_required": (422, "Every refund needs a reason: one line of text, not blank."),
    "billing.refund_owed": (503, "The channel refused a refund we owe; it is asked again later."),
    "billing.refund_pending": (503, "A refund is not settled yet; it is looked at again later."),
    "billing.merchant_not_found": (404, "citytiles has no such merchant at this channel."),
    "billing.payment_not_found": (404, "You have no payment with this id."),
    "billing.refund_not_found": (404, "No such refund."),
    "billing.nothing_to_pay": (409, "There is nothing to pay."),
    "billing.not_refundable": (409, "Only a paid payment can be refunded; details.status says what it is."),
    "billing.refund_exceeds_available": (
        409,
        "The refund is more than what remains; details.amount_available says how much.",
    ),
    "billing.too_many_refunds": (409, "This payment has been refunded as many times as the channel allows."),
    "billing.refund_amount_invalid": (422, "A refund is a positive whole number of fen."),
    "billing.channel_unavailable": (503, "The payment channel cannot be reached; Retry-After says when to retry."),
    "billing.order_conflict": (409, "The channel holds another order with this number."),
    "billing.order_paid": (409, "The order was paid at the channel."),
    "billing.order_not_found": (404, "The channel has no such order."),
    "billing.order_not_paid": (409, "The channel has no payment on this order to refund."),
    "billing.refund_not_enough": (409, "The channel has not enough left on this order to refund."),
    "billing.order_closed": (409, "The channel has closed this order: it takes no payment and no refund."),
    "billing.refund_period_over": (409, "The order is past the channel's refund period."),
    "billing.refund_refused": (409, "The channel refused this refund (the buyer's or the seller's account)."),
    "billing.request_refused": (422, "The channel refused the request as invalid; it will not succeed as it is."),
    "billing.bill_not_ready": (503, "The channel has not made the day's bill yet; the run waits and tries again."),
    "reconciliation.run_not_found": (404, "No such reconciliation run among your channels'."),
    "reconciliation.discrepancy_not_found": (404, "No such discrepancy among your channels'."),
    "reconciliation.merchant_required": (422, "The channel has several merchants: name one in merchant_id."),
    "reconciliation.merchant_not_found": (404, "citytiles collects through no such merchant at this channel."),
    "reconciliation.day_in_future": (422, "A bill is made for a day that has begun in Beijing, not a later one."),
    "reconciliation.note_required": (422, "Every resolution and approval needs a note: text, not blank."),
    "reconciliation.resolution_unknown": (422, "A resolution is accepted, refunded, written_off or fixed_upstream."),
    "reconciliation.already_resolved": (409, "The discrepancy is resolved or waits for approval already."),
    "reconciliation.not_awaiting_approval": (409, "Nothing of this discrepancy waits for approval."),
    "reconciliation.four_eyes": (403, "A second channel admin must approve what you resolved."),
    "reconciliation.nothing_to_refund": (409, "Our books have no payment to refund for this discrepancy."),
}

# Codes every operation of a kind can answer with, besides its own.
EVERY_OPERATION = ("internal_error",)
WITH_BODY = ("request.malformed", "request.too_large", "request.unsupported_media_type", "request.invalid")
WITH_QUERY = ("request.invalid",)
IDEMPOTENT = ("request.invalid_idempotency_key", "request.idempotency_key_reused", "request.idempotency_in_progress")
# A write can lose a race the business rules do not name, or find the database busy.
WRITES = ("request.conflict", "database.busy")
# A path parameter holding "/" (sent as %2F) makes the path one no route matches.
WITH_PATH_PARAMETERS = ("request.route_not_found",)
AUTHENTICATED = ("auth.required", "auth.invalid_token", "auth.token_expired")

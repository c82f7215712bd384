// Showing money and times. Money stays the API's decimal string: arithmetic is on integer
// minor units (BigInt), never on floats.

const AMOUNT = /^(0|[1-9][0-9]*)\.([0-9]{2})$/;

/** "25.00 KES", exactly as the API wrote the amount. */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  return currency ? `${amount} ${currency}` : String(amount);
}

/** amount × quantity as a two-place decimal string, or null for an amount that is not one. */
export function times(amount, quantity) {
  const match = AMOUNT.exec(String(amount));
  if (!match || !Number.isInteger(quantity) || quantity < 0) return null;
  const minor = BigInt(match[1]) * 100n + BigInt(match[2]);
  const total = minor * BigInt(quantity);
  return `${total / 100n}.${String(total % 100n).padStart(2, "0")}`;
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** A time for people, in the reader's own time zone, inside a <time> element's text. */
export function when(iso) {
  if (!iso) return "—";
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? String(iso) : DATE_TIME.format(moment);
}

export function clock(date) {
  return TIME.format(date);
}

function pad(number) {
  return String(number).padStart(2, "0");
}

/** A datetime-local value ("2027-03-01T19:30", the reader's zone) as ISO 8601 with its offset. */
export function withOffset(localValue) {
  if (!localValue) return null;
  const moment = new Date(localValue);
  if (Number.isNaN(moment.getTime())) return null;
  const minutes = -moment.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const offset = `${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}T` +
    `${pad(moment.getHours())}:${pad(moment.getMinutes())}:00${offset}`;
}

/** An ISO time as a datetime-local value in the reader's zone. */
export function localInput(iso) {
  const moment = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}T` +
    `${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
}

/** Today's date (the reader's zone) as YYYY-MM-DD. */
export function today() {
  const now = new Date();
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

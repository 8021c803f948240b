/**
 * Whether year-month-day names a day that exists: JavaScript's Date rolls 2024-02-30 over to
 * March 1st instead of refusing it, so a parse that succeeded does not say the date was real.
 */
export function isCalendarDate(year: number, month: number, day: number): boolean {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day)) return false;
  if (month < 1 || month > 12 || day < 1) return false;
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Whether a date as SendGrid's date fields take it (`YYYY-MM-DD`, with or without a time, or
 * `MM/DD/YYYY`) names a real day. The form itself is the caller's to check.
 */
export function isCalendarDateText(text: string): boolean {
  const iso = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (iso) return isCalendarDate(Number(iso[1]), Number(iso[2]), Number(iso[3]));
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text);
  if (us) return isCalendarDate(Number(us[3]), Number(us[1]), Number(us[2]));
  return false;
}

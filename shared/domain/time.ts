/**
 * Date arithmetic for orchestrators: they may not construct Dates from the clock (the lint
 * forbids `Date` there), but may derive one from `context.df.currentUtcDateTime`.
 */
export function addSeconds(instant: Date, seconds: number): Date {
  return new Date(instant.getTime() + seconds * 1000);
}

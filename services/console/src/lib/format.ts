// Display formats. Amounts stay decimal strings until they are shown.

export function usd(amount: string | null | undefined): string {
  if (amount === null || amount === undefined) return "–";
  const value = Number(amount);
  if (value === 0) return "$0";
  // Below a cent the exact decimal is shown, so that a cap of 0.0000216 is not rounded.
  if (Math.abs(value) < 0.01 && /^-?\d+\.\d+$/.test(amount)) {
    const trimmed = amount.replace(/0+$/, "");
    return trimmed.startsWith("-") ? `-$${trimmed.slice(1)}` : `$${trimmed}`;
  }
  const digits = Math.abs(value) < 100 ? 4 : 2;
  // Up to four places below $100, but no zeros past the cents: $5.00, $4.9997.
  const text = value.toFixed(digits).replace(/(\.\d\d\d*?)0+$/, "$1");
  return `$${text}`;
}

export function perMillion(amount: string | null | undefined): string {
  return amount === null || amount === undefined ? "–" : `$${Number(amount).toString()}`;
}

export function milliseconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : value.toLocaleString("en-US");
}

export function percent(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

export function time(iso: string): string {
  return new Date(iso).toLocaleTimeString("en-GB", { hour12: false });
}

// A date and time as ISO 8601 in the browser's time zone, read the same way everywhere: 2026-12-06 00:00.
export function dateTime(iso: string): string {
  const date = new Date(iso);
  const pad = (part: number) => String(part).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

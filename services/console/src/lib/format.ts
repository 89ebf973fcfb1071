// Display formats. Amounts stay decimal strings until they are shown.

export function usd(amount: string | null | undefined): string {
  if (amount === null || amount === undefined) return "–";
  const value = Number(amount);
  if (value === 0) return "$0";
  const digits = Math.abs(value) < 0.01 ? 6 : Math.abs(value) < 100 ? 4 : 2;
  return `$${value.toFixed(digits)}`;
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

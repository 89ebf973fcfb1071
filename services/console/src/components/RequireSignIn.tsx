"use client";

import { useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";
import { useAuth, type Credentials } from "@/lib/auth";

// Renders `children` with the credentials once someone is signed in, and sends everyone else to the sign-in page.
export function RequireSignIn({ children }: { children: (credentials: Credentials) => ReactNode }) {
  const { ready, credentials } = useAuth();
  const router = useRouter();
  useEffect(() => {
    if (ready && !credentials) router.replace("/signin");
  }, [ready, credentials, router]);
  if (!credentials) return <p className="muted">Loading…</p>;
  return <>{children(credentials)}</>;
}

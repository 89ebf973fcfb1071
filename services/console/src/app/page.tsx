"use client";

import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { useAuth } from "@/lib/auth";

export default function Home() {
  const { ready, credentials } = useAuth();
  const router = useRouter();
  useEffect(() => {
    if (ready) router.replace(credentials ? "/dashboard" : "/signin");
  }, [ready, credentials, router]);
  return null;
}
